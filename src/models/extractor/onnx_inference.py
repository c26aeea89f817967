"""Inference with the exported network on ONNX Runtime: the same interface as FrameEmbedder, no torch needed.

CUDA when onnxruntime-gpu sees a GPU, else the CPU with every graph optimisation (BatchNorm folding, fused
convolutions, the CPU's own layouts) and one intra-op thread per core this process may use; idle threads sleep
instead of spinning, which on a busy 2-core machine is faster (0.7 s instead of 1.2 s for 32 crops at 128 px).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from data_modules.preprocess.insightface_backend import providers
from src.models.extractor.export import EMBEDDING, INPUT, LOGIT


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """All graph optimisations, sequential execution, `threads` non-spinning intra-op threads (default: usable
    cores)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class OnnxEmbedder:
    """Embeds uint8 face crops of the network's input size with an exported extractor (model.onnx)."""

    def __init__(self, model_path: Path | str, image_size: int, mean: list[float], std: list[float],
                 batch_size: int = 64, threads: int | None = None) -> None:
        try:
            self.session = ort.InferenceSession(str(model_path), session_options(threads), providers=providers())
        except Exception as err:  # onnxruntime raises its own untyped errors for unreadable models
            raise ValueError(f"cannot load the ONNX extractor {model_path}: {err}") from err
        self.size, self.batch_size = int(image_size), int(batch_size)
        self.scale = (1.0 / (255.0 * np.asarray(std, dtype=np.float32))).reshape(1, 3, 1, 1)
        self.shift = (np.asarray(mean, dtype=np.float32) / np.asarray(std, dtype=np.float32)).reshape(1, 3, 1, 1)
        outputs = {o.name: o for o in self.session.get_outputs()}
        self._embed_dim = int(outputs[EMBEDDING].shape[1])

    @property
    def embed_dim(self) -> int:
        """Width D of the embeddings."""
        return self._embed_dim

    @property
    def provider(self) -> str:
        """The execution provider that runs the model (CUDAExecutionProvider or CPUExecutionProvider)."""
        return self.session.get_providers()[0]

    def normalise(self, images: list[np.ndarray]) -> np.ndarray:
        """uint8 [S,S,3] images -> float32 [N,3,S,S]: (x / 255 - mean) / std, as one multiply-subtract."""
        batch = np.stack(images).transpose(0, 3, 1, 2).astype(np.float32)
        return batch * self.scale - self.shift

    def __call__(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """uint8 [S,S,3] images -> (embeddings [T,D] float32, logits [T] float32)."""
        embs, logits = [], []
        for i in range(0, len(images), self.batch_size):
            logit, emb = self.session.run([LOGIT, EMBEDDING], {INPUT: self.normalise(images[i:i + self.batch_size])})
            embs.append(emb)
            logits.append(logit.reshape(-1))
        return np.concatenate(embs).astype(np.float32), np.concatenate(logits).astype(np.float32)
