"""Same-video pair protocols (paper, all, spaced), determinism, the embedding table and pair features."""

from __future__ import annotations

import numpy as np
import pytest

from data_modules.seeding import keyed_rng
from src.artifacts.embeddings import EmbeddingTable
from src.models.differential.operators import combine
from src.models.differential.pairs import (
    OperatorSettings,
    PairSettings,
    VideoEmbeddings,
    build_pairs,
    pair_features,
    pair_key,
    sample_pairs,
)

PAPER = PairSettings(strategy="paper", max_frames=40, pool_size=8, max_pairs=32, spacing=4)
ABS = OperatorSettings("abs", True)


def test_paper_protocol_pairs_every_other_frame_with_a_pool_partner():
    pairs = sample_pairs(40, PAPER, seed=1, key="ff/real/c23/000")
    assert pairs.shape == (32, 2) and pairs.dtype == np.int64
    assert (pairs[:, 0] < pairs[:, 1]).all()  # ordered (earlier, later)
    used = np.unique(pairs)
    assert len(used) == 40  # 32 non-pool frames once each + the 8 pool frames
    counts = np.bincount(pairs.ravel(), minlength=40)
    pool = np.flatnonzero(counts > 1)
    assert len(pool) <= 8
    for a, b in pairs:  # each pair has at least one pool member
        assert a in pool or b in pool or counts[a] == 1 or counts[b] == 1


def test_max_frames_caps_the_frames_used():
    pairs = sample_pairs(100, PAPER, seed=1, key="v")
    assert len(np.unique(pairs)) <= 40 and len(pairs) == 32


def test_pairs_are_deterministic_per_seed_and_video_and_machine_stable():
    a = sample_pairs(32, PAPER, 7, "ds/real/raw/x")
    np.testing.assert_array_equal(a, sample_pairs(32, PAPER, 7, "ds/real/raw/x"))
    assert not np.array_equal(a, sample_pairs(32, PAPER, 8, "ds/real/raw/x"))
    assert not np.array_equal(a, sample_pairs(32, PAPER, 7, "ds/real/raw/y"))
    # SHA-256 seeding, not Python's salted hash(): this value is the same on every machine and run
    assert keyed_rng(1234, "pairs", "demo/real/raw/a").integers(0, 1000, 5).tolist() == [500, 416, 789, 920, 64]


@pytest.mark.parametrize("n,expected", [(0, 0), (1, 0), (2, 1), (5, 3), (16, 8)])
def test_short_videos(n, expected):
    assert len(sample_pairs(n, PAPER, 0, "v")) == expected


def test_all_and_spaced_strategies():
    all_cfg = PairSettings(strategy="all", max_frames=None, max_pairs=None)
    assert len(sample_pairs(5, all_cfg, 0, "v")) == 10
    assert len(sample_pairs(30, PairSettings(strategy="all", max_frames=None, max_pairs=50), 0, "v")) == 50
    spaced = sample_pairs(10, PairSettings(strategy="spaced", max_frames=None, spacing=4, max_pairs=None), 0, "v")
    assert spaced.tolist() == [[i, i + 4] for i in range(6)]
    with pytest.raises(ValueError, match="pairs.strategy 'random'"):
        sample_pairs(5, PairSettings(strategy="random"), 0, "v")


def _table() -> EmbeddingTable:
    rng = np.random.default_rng(0)
    videos = {
        "d/real/raw/b": (rng.standard_normal((6, 4)), rng.standard_normal(6), np.array([50, 10, 40, 20, 30, 0])),
        "d/real/raw/a": (rng.standard_normal((3, 4)), rng.standard_normal(3), np.array([2, 1, 0])),
        "d/real/raw/c": (rng.standard_normal((1, 4)), rng.standard_normal(1), np.array([7])),
    }
    table = EmbeddingTable.from_videos([VideoEmbeddings(v, *parts) for v, parts in videos.items()], dim=4)
    return table, videos


def test_embedding_table_roundtrip_sorted_by_frame(tmp_path):
    table, videos = _table()
    table.save(tmp_path / "e.npz")
    loaded = EmbeddingTable.load(tmp_path / "e.npz")
    assert loaded.video_ids.tolist() == ["d/real/raw/a", "d/real/raw/b", "d/real/raw/c"]
    video = loaded.video("d/real/raw/b")
    emb, frames = video.embeddings, video.frame_indices
    assert frames.tolist() == [0, 10, 20, 30, 40, 50] and emb.dtype == np.float32 and loaded.dim == 4
    np.testing.assert_array_equal(emb[0], videos["d/real/raw/b"][0][5].astype(np.float32))
    with pytest.raises(KeyError, match="rerun the embed stage"):
        loaded.video("d/real/raw/zz")


def test_build_pairs_combines_embeddings_of_sampled_frames():
    table, _ = _table()
    ps = build_pairs(table.videos(), PAPER, ABS, 0)
    assert ps.features.shape == (2 + 3, 4)  # 3 frames -> pool 1 + 2 pairs, 6 -> 3 pairs, 1 frame -> none
    assert ps.video_ids.tolist().count("d/real/raw/b") == 3
    video = table.video("d/real/raw/a")
    emb, frames = video.embeddings, video.frame_indices
    i, j = (np.searchsorted(frames, f) for f in ps.frames[0])
    np.testing.assert_allclose(ps.features[0], combine("abs", emb[i][None], emb[j][None])[0], rtol=1e-6)
    with pytest.raises(ValueError, match="no frame pairs"):
        build_pairs([table.video("d/real/raw/c")], PAPER, ABS, 0)


def test_pairs_are_seeded_by_frame_numbers_not_by_the_name_a_video_goes_by():
    """evaluate knows a video by its dataset id, src.score by its file name: both must draw the same pairs."""
    rng = np.random.default_rng(3)
    emb, logits, frames = rng.standard_normal((40, 4)), rng.standard_normal(40), np.arange(40) * 7
    a = pair_features(VideoEmbeddings("ffpp/real/c23/000", emb, logits, frames), PAPER, ABS, 5)
    b = pair_features(VideoEmbeddings("000", emb, logits, frames), PAPER, ABS, 5)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])
    other = pair_features(VideoEmbeddings("000", emb, logits, frames + 1), PAPER, ABS, 5)[1]
    assert not np.array_equal(other - 1, a[1])  # other frame numbers draw other pairs
    assert pair_key(frames[:3]) == "frames:0,7,14"
