"""The paper GMM's exact fit on CUDA (`make bench-gpu`): torch EM on the GPU against scikit-learn on the CPU.

Same data and figures as the paper-GMM part of bench_stage2 (without the torch-CPU fit); without CUDA it
logs why and returns no figures.
"""

from __future__ import annotations

import torch

from benchmarks.bench_stage2 import paper_gmm_figures
from src.utils.logging import get_logger

GPU = True
log = get_logger(__name__)


def run() -> list[tuple[str, float, str]]:
    """stage2_fit_gmm_paper_s (scikit-learn, CPU), stage2_fit_gmm_paper_gpu_s, speed-up and score agreement."""
    if not torch.cuda.is_available():
        log.warning("bench_stage2_gpu: CUDA is not available; no figures")
        return []
    return paper_gmm_figures(torch_cpu=False)
