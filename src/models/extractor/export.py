"""The extractor network as ONNX: normalised images [B,3,S,S] -> logit [B], embedding [B,D], any batch size."""

from __future__ import annotations

import inspect
import io
from pathlib import Path

import onnx
import torch

from data_modules.io import atomic_write_bytes
from src.models.extractor.net import FeatureExtractorNet

OPSET = 17
INPUT, LOGIT, EMBEDDING = "images", "logit", "embedding"


def onnx_bytes(net: FeatureExtractorNet, opset: int = OPSET) -> bytes:
    """The network (on the CPU, eval mode) traced to a checked ONNX model with a dynamic batch axis."""
    if opset < OPSET:
        raise ValueError(f"opset={opset}: the extractor is exported with ONNX opset >= {OPSET}")
    net = net.cpu().eval()
    dummy = torch.zeros(2, 3, net.image_size, net.image_size)
    # The TorchScript exporter: no onnxscript needed, and it folds BatchNorm into the convolutions.
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(net, (dummy,), buffer, input_names=[INPUT], output_names=[LOGIT, EMBEDDING],
                          opset_version=opset, do_constant_folding=True,
                          dynamic_axes={name: {0: "batch"} for name in (INPUT, LOGIT, EMBEDDING)}, **legacy)
    data = buffer.getvalue()
    onnx.checker.check_model(onnx.load_from_string(data))
    return data


def export_onnx(net: FeatureExtractorNet, path: Path, opset: int = OPSET) -> Path:
    """Write the network as ONNX to `path`, atomically."""
    atomic_write_bytes(Path(path), onnx_bytes(net, opset))
    return Path(path)
