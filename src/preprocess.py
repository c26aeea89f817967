"""`python -m src.preprocess data=<dataset> data.root=<dir> [face=insightface] [overrides...]`: face caches only.

Composes experiments/run.yaml with the given overrides and builds the face cache of the training dataset
and of every test_data entry, exactly as the `preprocess` stage of src.run does.
"""

from __future__ import annotations

import signal
import sys

from data_modules.cli import run_main
from src.artifacts.faces import build_face_cache
from src.artifacts.store import ArtifactStore
from src.config import compose_checked, datasets_in_run
from src.validation import check_roots, validate_config

USAGE = "usage: python -m src.preprocess data=<dataset> data.root=<dir> [face=<backend>] [key=value ...]"


def preprocess(overrides: list[str]) -> int:
    """Check the config and every dataset root, then build every dataset's face cache."""
    cfg = compose_checked(overrides)
    validate_config(cfg)
    check_roots(cfg)
    store = ArtifactStore(cfg.paths.artifact_dir)
    store.check_usable()
    try:
        for data in datasets_in_run(cfg):
            build_face_cache(store, data, cfg.face)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # already stopping: a further Ctrl-C changes nothing
        sys.stderr.write(f"interrupted: the videos cached so far are kept under {store.root}; rerun the same "
                         "command to resume\n")
        return 130
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point (`difffake-preprocess`)."""
    run_main(preprocess, USAGE, argv)


if __name__ == "__main__":
    main()
