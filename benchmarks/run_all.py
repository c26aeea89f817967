"""`make bench`: run every benchmarks/bench_*.py, print `name: value unit` lines and write a JSON file.

A benchmark module defines `GPU: bool` (optional, default False) and `run() -> list[tuple[str, float, str]]`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from pathlib import Path

from data_modules.io import atomic_write_json

BENCH_DIR = Path(__file__).resolve().parent


def discover(gpu: bool, only: list[str] | None) -> list[str]:
    """Module names of the benchmarks to run (CPU ones, or GPU ones with --gpu)."""
    names = []
    for path in sorted(BENCH_DIR.glob("bench_*.py")):
        name = f"benchmarks.{path.stem}"
        if only and path.stem.removeprefix("bench_") not in only:
            continue
        module = importlib.import_module(name)
        if bool(getattr(module, "GPU", False)) == gpu:
            names.append(name)
    return names


def main() -> int:
    """Run the benchmarks; exit 1 if any of them failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gpu", action="store_true", help="run the CUDA benchmarks instead of the CPU ones")
    parser.add_argument("--only", nargs="*", help="benchmark names without the bench_ prefix")
    parser.add_argument("--out", default="bench.json")
    args = parser.parse_args()
    figures: dict[str, dict[str, float | str]] = {}
    failed = []
    for name in discover(args.gpu, args.only):
        try:
            for fig, value, unit in importlib.import_module(name).run():
                print(f"{fig}: {value:.4g} {unit}", flush=True)
                figures[fig] = {"value": value, "unit": unit}
        except Exception:
            traceback.print_exc()
            failed.append(name)
    atomic_write_json(Path(args.out), figures)
    if failed:
        print(f"failed benchmarks: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
