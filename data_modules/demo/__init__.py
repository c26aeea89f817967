"""The embedded demo set: real clips animated from face photos shipped in installed packages, and
landmark-aligned face-swap fakes (evaluation only) made by a method stage 1 never sees."""

from data_modules.demo.build import DemoOptions, build_demo_media

__all__ = ["DemoOptions", "build_demo_media"]
