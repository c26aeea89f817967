"""The extractor as ONNX (opset >= 17, dynamic batch) run by ONNX Runtime gives PyTorch's numbers; saliency
maps come from the last spatial feature map of any backbone. On timm's tiny test networks (untrained)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from src.models.extractor.export import OPSET, export_onnx
from src.models.extractor.inference import FrameEmbedder
from src.models.extractor.net import ExtractorSpec, FeatureExtractorNet
from src.models.extractor.onnx_inference import OnnxEmbedder
from src.models.extractor.saliency import SaliencyMapper, last_spatial_layer

SIZE = 32


def tiny_net(name: str = "test_efficientnet", size: int = SIZE) -> FeatureExtractorNet:
    torch.manual_seed(0)
    spec = ExtractorSpec(backbone={"name": name, "pretrained": False, "weights_file": None, "drop_rate": 0.0},
                         image_size=size, mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3])
    net = FeatureExtractorNet.build(spec)
    with torch.no_grad():  # BatchNorm statistics away from the identity, so folding them is really tested
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    return net.eval()


def images(n: int, seed: int = 0) -> list[np.ndarray]:
    return list(np.random.default_rng(seed).integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8))


def test_onnx_runtime_gives_pytorchs_embeddings_and_logits_for_any_batch(tmp_path) -> None:
    net = tiny_net()
    path = export_onnx(net, tmp_path / "model.onnx")
    model = onnx.load(str(path))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= OPSET
    assert [i.name for i in model.graph.input] == ["images"]
    assert [o.name for o in model.graph.output] == ["logit", "embedding"]
    crops = images(11)
    expected = FrameEmbedder(net, batch_size=16)(crops)
    for batch in (1, 4, 16):
        embedder = OnnxEmbedder(path, SIZE, net.mean, net.std, batch_size=batch)
        got = embedder(crops)
        assert embedder.embed_dim == net.embed_dim and embedder.size == SIZE
        assert embedder.provider == "CPUExecutionProvider" or torch.cuda.is_available()
        for a, b in zip(got, expected, strict=True):
            assert a.shape == b.shape and a.dtype == np.float32
            assert np.abs(a - b).max() < 1e-4


def test_an_opset_below_17_and_an_unreadable_model_are_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="opset >= 17"):
        export_onnx(tiny_net(), tmp_path / "old.onnx", opset=13)
    (tmp_path / "broken.onnx").write_bytes(b"\x08\x07not a model")
    with pytest.raises(ValueError, match="cannot load the ONNX extractor .*broken.onnx"):
        OnnxEmbedder(tmp_path / "broken.onnx", SIZE, [0.5] * 3, [0.5] * 3)


@pytest.mark.parametrize("name,layer", [("test_efficientnet", "bn2"), ("test_resnet", "layer4")])
def test_the_saliency_layer_is_the_last_spatial_feature_map(name, layer) -> None:
    net = tiny_net(name, size=64)  # 2 x 2 after the last stage (at 32 px the last stage is 1 x 1)
    named = {module: n for n, module in net.backbone.named_modules()}
    assert named[last_spatial_layer(net)] == layer


def test_saliency_maps_cover_each_crop_in_0_1_whatever_the_batch() -> None:
    net = tiny_net()
    crops = images(5)
    maps = SaliencyMapper(net, "gradcam++", batch_size=2)(crops)
    assert maps.shape == (5, SIZE, SIZE) and maps.dtype == np.float32
    assert maps.min() >= 0.0 and maps.max() <= 1.0 and maps.max() > 0.5
    again = SaliencyMapper(net, "gradcam++", batch_size=5)(crops)
    np.testing.assert_allclose(again, maps, atol=1e-5)  # batching does not change a map
    assert all(p.grad is None for p in net.parameters())  # no gradients left behind on the shared network
    with pytest.raises(ValueError, match="unknown saliency method 'cam'; valid choices: gradcam, gradcam\\+\\+"):
        SaliencyMapper(net, "cam")


@pytest.mark.gpu
def test_onnx_runtime_runs_on_cuda_where_onnxruntime_gpu_sees_a_gpu(tmp_path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this onnxruntime has no CUDA provider (the gpu extra installs onnxruntime-gpu)")
    net = tiny_net()
    embedder = OnnxEmbedder(export_onnx(net, tmp_path / "model.onnx"), SIZE, net.mean, net.std)
    assert embedder.provider == "CUDAExecutionProvider"
    crops = images(8)
    for a, b in zip(embedder(crops), FrameEmbedder(net, batch_size=8)(crops), strict=True):
        assert np.abs(a - b).max() < 1e-3  # TF32/cuDNN kernels on the GPU, fp32 on the CPU
