"""`python -m data_modules.preprocess data=<dataset> data.root=<dir> [face=insightface] [...]`: build face caches.

Composes experiments/run.yaml with the given overrides and builds the cache of the training dataset and of
every test_data entry (datasets_in_run), exactly as the `preprocess` stage of src.run does.
"""

from __future__ import annotations

import logging
import sys

from src.config import check_group_overrides, compose_config
from src.stages.keys import datasets_in_run
from src.utils.artifacts import ArtifactStore

log = logging.getLogger("data_modules.preprocess")


def main(argv: list[str] | None = None) -> int:
    """Build every dataset's face cache; exit 2 with one line on a config or layout error."""
    from data_modules.preprocess.writer import build_face_cache
    from data_modules.sources.common import DatasetLayoutError

    overrides = list(sys.argv[1:] if argv is None else argv)
    problem = check_group_overrides(overrides)
    if problem:
        log.error(problem)
        return 2
    cfg = compose_config(overrides)
    store = ArtifactStore(cfg.paths.artifact_dir)
    try:
        for data in datasets_in_run(cfg):
            build_face_cache(data, cfg.face, store)
    except (DatasetLayoutError, FileNotFoundError) as err:
        log.error("error: %s", err)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
