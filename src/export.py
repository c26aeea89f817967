"""Export a finished run as a portable bundle (ONNX + safetensors extractor, heads, calibration, settings,
the training config and metrics, manifest.json with the SHA-256 of every file).

    python -m src.export run=<run dir> out=<bundle dir> [artifacts=<artifact store>] [opset=17] [overwrite=false]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from data_modules.cli import parse_args, run_main
from src.bundle.export import export_bundle
from src.models.extractor.export import OPSET
from src.validation import Number, check_arg

USAGE = ("usage: python -m src.export run=<run dir> out=<bundle dir> [artifacts=<artifact store>] [opset=17] "
         "[overwrite=false]")


@dataclass(frozen=True)
class ExportArgs:
    """Command-line arguments of src.export (`artifacts` defaults to the store named in the run's config)."""

    run: Path
    out: Path
    artifacts: Path | None = None
    opset: int = OPSET
    overwrite: bool = False

    def __post_init__(self) -> None:
        check_arg("opset", self.opset, Number(low=7))


def export(argv: list[str]) -> int:
    """Parse `key=value` arguments, write the bundle and print its id and how to score with it."""
    args = parse_args(ExportArgs, argv, USAGE)
    report = export_bundle(args.run, args.out, args.artifacts, args.opset, args.overwrite)
    print(f"bundle {report.manifest.bundle_id} written to {report.path} in {report.seconds:.1f} s "
          f"({len(report.manifest.files)} files, max |onnx - torch| {report.onnx_max_abs_diff:.1e})")
    print(f"score a video with it: python -m src.score bundle={report.path} video=<file or folder>")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point (`difffake-export`)."""
    run_main(export, USAGE, argv)


if __name__ == "__main__":
    main()
