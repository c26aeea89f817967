"""The heap tuning of pseudo-fake workers: freed frame-sized buffers are reused instead of page-faulted anew."""

from __future__ import annotations

import ctypes.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import bench_blend
from data_modules.allocator import keep_freed_buffers

ROOT = Path(__file__).resolve().parents[1]
CHURN = """
import json, resource, sys
import numpy as np
from data_modules.allocator import keep_freed_buffers
if sys.argv[1] == "tuned":
    keep_freed_buffers()
rng = np.random.default_rng(0)

def churn(rounds):
    kept = []
    for _ in range(rounds):  # one round ~ one pseudo-fake: six frame-sized buffers, written, one kept a while
        arrays = [np.ones(int(n), np.uint8) for n in rng.integers(150_000, 2_000_000, 6)]
        kept = [*kept[-2:], arrays[0]]

churn(50)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn(200)
print(json.dumps((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 200))
"""


def faults_per_round(mode: str) -> float:
    """Minor page faults per round of frame-sized allocations in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", CHURN, mode], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(sys.platform != "linux" or not ctypes.util.find_library("c"), reason="needs glibc")
def test_tuned_heap_reuses_freed_frame_sized_buffers():
    assert keep_freed_buffers() is True
    tuned, default = faults_per_round("tuned"), faults_per_round("default")
    assert tuned < 5  # six buffers of 37 to 490 pages each
    assert default > 20 * max(tuned, 1.0)


def test_reference_timing_needs_a_difffake_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv("DIFFFAKE_REFERENCE", raising=False)
    assert bench_blend.reference_generator() is None
    monkeypatch.setenv("DIFFFAKE_REFERENCE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="construct_pseudo_deepfake.py"):
        bench_blend.reference_generator()
