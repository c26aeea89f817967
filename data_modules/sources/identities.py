"""Identities from the video names of datasets that encode them: (source, target), '' where none."""

from __future__ import annotations


def ffpp_ids(stem: str) -> tuple[str, str]:
    """FF++: reals '000' / DFD actors '01__scene' (source = target); fakes 'target_source' ('000_003')."""
    ids = stem.split("__")[0].split("_")
    if len(ids) == 1:
        return ids[0], ids[0]
    return (ids[1], ids[0]) if len(ids) == 2 else ("", "")


def celebdf_ids(stem: str) -> tuple[str, str]:
    """Celeb-DF: real 'id0_0000' of id0; fake 'id0_id1_0000', id1's face on id0's video; YouTube-real none."""
    parts = stem.split("_")
    if len(parts) not in (2, 3) or not all(p.startswith("id") for p in parts[:-1]):
        return "", ""
    return parts[-2], parts[0]
