"""A local web page for a bundle (Gradio): upload a video or an image, see the verdict of every scorer with its
threshold, the timeline, the saliency sheet and the skipped frames. Binds to 127.0.0.1; no analytics.

    python -m src.app bundle=<bundle dir> [backend=onnx] [host=127.0.0.1] [port=7860] [fpr=0.05] [max_mb=200]
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from data_modules.cli import InputFileError, UsageError, parse_args, run_main
from data_modules.preprocess import VideoReadError
from data_modules.sources.common import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from src.api import NO_FACE, Detector, Progress, VideoResult
from src.bundle.load import BACKENDS
from src.models.differential.calibration import CLASSIFIER, fusion_name
from src.score import plot_saliency, plot_timeline
from src.validation import OPEN_FRACTION, OPTIONAL_COUNT, POSITIVE, Number, check_arg

# No usage statistics, update checks or hub telemetry: the page works on a machine without network.
for _key, _value in (("GRADIO_ANALYTICS_ENABLED", "False"), ("HF_HUB_DISABLE_TELEMETRY", "1"),
                     ("HF_HUB_OFFLINE", "1"), ("GRADIO_SSR_MODE", "False")):
    os.environ.setdefault(_key, _value)

USAGE = ("usage: python -m src.app bundle=<bundle dir> [backend=onnx|torch] [host=127.0.0.1] [port=7860] "
         "[fpr=0.05] [max_mb=200] [frames=N] [saliency=true]")
ACCEPTED = sorted(VIDEO_EXTENSIONS | IMAGE_EXTENSIONS)


@dataclass(frozen=True)
class AppArgs:
    """Command-line arguments of src.app."""

    bundle: Path
    backend: str = "onnx"
    host: str = "127.0.0.1"
    port: int = 7860
    fpr: float = 0.05
    max_mb: float = 200.0
    frames: int | None = None
    saliency: bool = True

    def __post_init__(self) -> None:
        check_arg("port", self.port, Number(low=1, high=65535))
        check_arg("fpr", self.fpr, OPEN_FRACTION)
        check_arg("max_mb", self.max_mb, POSITIVE)
        check_arg("frames", self.frames, OPTIONAL_COUNT)
        if self.backend not in BACKENDS:
            raise UsageError(f"backend={self.backend}: expected {' or '.join(BACKENDS.names())}")


@dataclass(frozen=True)
class PageResult:
    """What the page shows for one upload: verdict (Markdown), timeline and saliency images (RGB), skipped frames."""

    verdict: str
    timeline: np.ndarray | None = None
    saliency: np.ndarray | None = None
    skipped: str = ""


def headline_scorer(result: VideoResult, primary: str) -> str | None:
    """The scorer the page leads with: the primary head's fusion, else the head, else the classifier."""
    return next((s for s in (fusion_name(primary), primary, CLASSIFIER) if s in result.decisions), None)


def verdict_markdown(result: VideoResult, primary: str) -> str:
    """The verdict line and a table of every scorer's score, threshold and decision."""
    lead = headline_scorer(result, primary)
    if lead is None:
        return f"**Could not score** {Path(result.video).name}: {result.reason or NO_FACE}."
    word = "FAKE" if result.decisions[lead].fake else "REAL"
    lines = [f"## Verdict: {word}", "",
             f"by `{lead}` at a false-positive rate of {result.fpr:g} on validation reals; "
             f"{result.frames_used} of {result.frames_sampled} sampled frames had a face.", "",
             "| scorer | score | threshold | verdict |", "| --- | --- | --- | --- |"]
    for name, value in result.scores.items():
        decision = result.decisions.get(name)
        shown = "n/a" if value is None else f"{value:.4f}"
        threshold = "" if decision is None else f"{decision.threshold:.4f}"
        lines.append(f"| {name} | {shown} | {threshold} | {'' if decision is None else 'fake' if decision.fake else 'real'} |")
    if result.reason:
        lines += ["", f"Note: {result.reason}."]
    return "\n".join(lines)


def skipped_markdown(result: VideoResult) -> str:
    """Skipped frames with their reasons, or a line saying none were."""
    if not result.frames_skipped:
        return "No sampled frame was skipped."
    rows = [f"| {s.frame} | {s.reason} |" for s in result.frames_skipped]
    return "\n".join([f"{len(rows)} skipped frame(s):", "", "| frame | reason |", "| --- | --- |", *rows])


def read_png(path: Path) -> np.ndarray:
    """An RGB image from a PNG file."""
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


class Page:
    """The page's work, without the web server: check an upload, score it, draw its figures."""

    def __init__(self, detector: Detector, args: AppArgs) -> None:
        self.detector, self.args = detector, args

    def check(self, path: Path) -> str | None:
        """Why an upload cannot be scored (too large, wrong kind), or None."""
        size_mb = path.stat().st_size / 2**20
        if size_mb > self.args.max_mb:
            return f"{path.name} is too large: {size_mb:.1f} MB, the limit is {self.args.max_mb:g} MB (max_mb=)."
        if path.suffix.lower() not in ACCEPTED:
            return f"{path.name} is not a video or image file; accepted: {', '.join(ACCEPTED)}."
        return None

    def score(self, upload: str | None, progress: Progress | None = None) -> PageResult:
        """Everything the page shows for one uploaded file."""
        if not upload:
            return PageResult("Upload a video or an image first.")
        path = Path(upload)
        problem = self.check(path)
        if problem:
            return PageResult(f"**Could not score**: {problem}")
        try:
            result = self.detector.score_file(path, self.args.fpr, self.args.frames, self.args.saliency, progress)
        except (VideoReadError, InputFileError) as err:
            return PageResult(f"**Could not score** {path.name}: unreadable file ({err}).")
        timeline = saliency = None
        with tempfile.TemporaryDirectory(prefix="difffake-app-") as tmp:
            data = result.to_json()
            if data.get("timeline"):
                plot_timeline(data, Path(tmp) / "timeline.png")
                timeline = read_png(Path(tmp) / "timeline.png")
            if result.saliency:
                plot_saliency(result, Path(tmp) / "saliency.png")
                saliency = read_png(Path(tmp) / "saliency.png")
        return PageResult(verdict_markdown(result, self.detector.detector.settings.primary), timeline, saliency,
                          skipped_markdown(result))


def build_page(page: Page) -> Any:
    """The Gradio Blocks of the page."""
    import gradio as gr

    def run(upload: str | None, progress: gr.Progress = gr.Progress()) -> tuple:
        report: Callable[[float, str], None] = lambda fraction, message: progress(fraction, desc=message)  # noqa: E731
        shown = page.score(upload, report)
        return shown.verdict, shown.timeline, shown.saliency, shown.skipped

    detector = page.detector
    # uploads and shown images are deleted from Gradio's cache after an hour
    with gr.Blocks(analytics_enabled=False, title="difffake", delete_cache=(3600, 3600)) as blocks:
        gr.Markdown(f"# difffake: is this face video a deepfake?\nBundle `{detector.bundle_id}` "
                    f"({page.args.backend} backend). Upload a video or an image "
                    f"(up to {page.args.max_mb:g} MB); an image gets the classifier only.")
        upload = gr.File(label="video or image", file_types=ACCEPTED, elem_id="upload")
        button = gr.Button("Score", variant="primary", elem_id="score")
        verdict = gr.Markdown(elem_id="verdict")
        with gr.Row():
            timeline = gr.Image(label="timeline", format="png", elem_id="timeline")
            saliency = gr.Image(label="saliency (most suspicious frames)", format="png", elem_id="saliency")
        skipped = gr.Markdown(elem_id="skipped")
        button.click(run, inputs=upload, outputs=[verdict, timeline, saliency, skipped])
    return blocks


def serve(argv: list[str]) -> int:
    """Load the bundle and serve the page until interrupted."""
    args = parse_args(AppArgs, argv, USAGE)
    page = Page(Detector.load(args.bundle, args.backend), args)
    print(f"difffake page for bundle {page.detector.bundle_id}: http://{args.host}:{args.port}", flush=True)
    launch(build_page(page), args)
    return 0


def launch(blocks: Any, args: AppArgs, tries: int = 3) -> None:
    """Serve the page. Gradio gives up when its own first request to the page takes over 3 s (a busy machine)
    and asks for a public share link, which this page never makes: so close and try again a few times."""
    for attempt in range(1, tries + 1):
        try:
            blocks.launch(server_name=args.host, server_port=args.port, share=False, ssr_mode=False,
                          max_file_size=f"{args.max_mb * 2:g}mb", enable_monitoring=False, mcp_server=False,
                          pwa=False, footer_links=[], show_error=True)
            return
        except ValueError as err:
            if "localhost is not accessible" not in str(err) or attempt == tries:
                raise
            blocks.close()


def main(argv: list[str] | None = None) -> None:
    """Console entry point (`difffake-app`)."""
    run_main(serve, USAGE, argv)


if __name__ == "__main__":
    main()
