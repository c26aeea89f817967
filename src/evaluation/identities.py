"""Identity leakage: test videos showing a person (source or target identity) whom the training data shows too.

Identities come from the adapters that know them (FF++ source/target ids, Celeb-DF ids, the demo's people);
they are compared within one dataset name, since ids of different datasets are different namespaces."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from data_modules.records import IndexRow

TRAINING_SPLITS = ("train", "val")  # stage 1 and the heads train on train reals; val reals pick checkpoints and calibrate


@dataclass(frozen=True)
class SeenIdentityVideo:
    """A test video and its identities that also appear in the training dataset's train or val split."""

    video_id: str
    dataset: str
    identities: tuple[str, ...]


@dataclass(frozen=True)
class IdentityLeakage:
    """How many test videos carry identities, and those whose identity training also shows."""

    n_with_identities: int
    seen: list[SeenIdentityVideo]
    excluded: bool


def identities_of(row: IndexRow) -> set[str]:
    """The source and target identity of a video ('' where the dataset gives none)."""
    return {row.source_id, row.target_id} - {""}


def seen_identity_videos(training_rows: Iterable[IndexRow], test_rows: Iterable[IndexRow]
                         ) -> tuple[int, list[SeenIdentityVideo]]:
    """(test videos with any identity, those sharing one with a train/val video of the same dataset)."""
    seen = {(r.dataset, i) for r in training_rows if r.split in TRAINING_SPLITS for i in identities_of(r)}
    known, leaks = 0, []
    for row in test_rows:
        ids = identities_of(row)
        known += bool(ids)
        shared = tuple(sorted(i for i in ids if (row.dataset, i) in seen))
        if shared:
            leaks.append(SeenIdentityVideo(row.video_id, row.dataset, shared))
    return known, leaks


def leakage_markdown(leakage: IdentityLeakage) -> str:
    """results.md section: the count and the list of test videos whose identity training shows."""
    lines = ["", f"## Identity leakage ({len(leakage.seen)} of {leakage.n_with_identities} test videos with "
             "identities)", ""]
    if not leakage.n_with_identities:
        return "\n".join([*lines, "The evaluated datasets give no identities; nothing to check."]) + "\n"
    action = ("They are excluded from every metric above (eval.exclude_seen_identities=true)."
              if leakage.excluded else "They are included above; eval.exclude_seen_identities=true drops them.")
    lines.append(f"Test videos whose source or target identity also appears in the training dataset's "
                 f"{' or '.join(TRAINING_SPLITS)} split. {action}")
    if leakage.seen:
        lines += ["", "| video_id | identities seen in training |", "|---|---|"]
        lines += [f"| {v.video_id} | {', '.join(v.identities)} |" for v in leakage.seen]
    return "\n".join(lines) + "\n"
