"""Typed checks of a composed run config: every numeric option's type and range, checked before any work,
so `extractor.epochs=abc` or `data.frames_per_video=0` ends in one line naming the option and a valid value."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from data_modules.cli import UsageError
from data_modules.sources import check_root


class ConfigValueError(UsageError):
    """A config option of the wrong type or out of range; the message names it and a valid value."""


@dataclass(frozen=True)
class Number:
    """An int (or float) option within [low, high]; `open_low`/`open_high` exclude the bound itself."""

    integer: bool = True
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    nullable: bool = False
    words: tuple[str, ...] = ()  # named values accepted besides numbers, e.g. "auto"

    def describe(self) -> str:
        """The expected value in words, e.g. 'an integer >= 1' or 'a number in (0, 1)'."""
        kind = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            text = f"{kind} in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}{')' if self.open_high else ']'}"
        elif self.low is not None:
            text = f"{kind} {'>' if self.open_low else '>='} {self.low:g}"
        elif self.high is not None:
            text = f"{kind} {'<' if self.open_high else '<='} {self.high:g}"
        else:
            text = kind
        text = " or ".join([text, *(f"'{w}'" for w in self.words)])
        return f"{text} or null" if self.nullable else text

    def accepts(self, value: Any) -> bool:
        """True when `value` has the right type and lies in range."""
        if value is None:
            return self.nullable
        if isinstance(value, str) and value in self.words:
            return True
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.open_low and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.open_high and value == self.high)))


@dataclass(frozen=True)
class Rule:
    """`pattern` (dotted key, `*` matches one level) must hold a value `check` accepts; `each`: every list item."""

    pattern: str
    check: Number
    each: bool = False


COUNT = Number(low=1)              # a positive integer: epochs, batch sizes, frame counts
WORKERS = Number(low=0)            # processes or threads; 0 runs in this process
OPTIONAL_COUNT = Number(low=1, nullable=True)
POSITIVE = Number(integer=False, low=0, open_low=True)
NON_NEGATIVE = Number(integer=False, low=0)
FRACTION = Number(integer=False, low=0, high=1)
OPEN_FRACTION = Number(integer=False, low=0, high=1, open_low=True, open_high=True)  # FPRs, nu
SPLIT_FRACTION = Number(integer=False, low=0, high=1, open_high=True)
HEADS = ("head", "heads.*")

RULES: tuple[Rule, ...] = (
    Rule("seed", Number()),
    Rule("data.frames_per_video", COUNT),
    Rule("data.options.val_fraction", SPLIT_FRACTION),
    Rule("data.options.test_fraction", SPLIT_FRACTION),
    Rule("test_data.*.frames_per_video", COUNT),
    Rule("test_data.*.options.val_fraction", SPLIT_FRACTION),
    Rule("face.upsample", WORKERS),
    Rule("face.detect_max_side", COUNT),
    Rule("face.min_face_px", COUNT),
    Rule("face.crop_scale", POSITIVE),
    Rule("face.max_crop_side", COUNT),
    Rule("face.jpeg_quality", Number(low=1, high=100)),
    Rule("face.num_workers", WORKERS),
    Rule("backbone.image_size", Number(low=16, nullable=True)),
    Rule("backbone.drop_rate", Number(integer=False, low=0, high=1, open_high=True)),
    Rule("extractor.lr", POSITIVE),
    Rule("extractor.momentum", Number(integer=False, low=0, high=1, open_high=True)),
    Rule("extractor.rho", NON_NEGATIVE),
    Rule("extractor.weight_decay", NON_NEGATIVE),
    Rule("extractor.epochs", COUNT),
    Rule("extractor.decay_start", FRACTION),
    Rule("extractor.pairs_per_batch", COUNT),
    Rule("extractor.num_workers", Number(low=0, words=("auto",))),
    Rule("extractor.val_size", Number(low=2)),
    Rule("extractor.top_k", Number(low=-1)),
    Rule("pairs.max_frames", Number(low=2)),
    Rule("pairs.pool_size", COUNT),
    Rule("pairs.max_pairs", COUNT),
    Rule("pairs.spacing", COUNT),
    *(Rule(f"{h}.{key}", check) for h in HEADS for key, check in (
        ("epochs", COUNT), ("batch_size", COUNT), ("lr", POSITIVE), ("weight_decay", NON_NEGATIVE),
        ("nu", Number(integer=False, low=0, high=1, open_low=True)), ("rep_dim", COUNT), ("eps", POSITIVE),
        ("warmup_epochs", WORKERS), ("n_components", COUNT), ("max_iter", COUNT), ("tol", POSITIVE),
        ("reg_covar", NON_NEGATIVE), ("pca_dim", OPTIONAL_COUNT), ("max_train", OPTIONAL_COUNT),
        ("cpu_threads", OPTIONAL_COUNT))),
    *(Rule(f"{h}.{key}", COUNT, each=True) for h in HEADS for key in ("hidden", "lr_milestones")),
    Rule("eval.topk", COUNT),
    Rule("eval.min_frames", COUNT),
    Rule("eval.fpr_targets", OPEN_FRACTION, each=True),
    Rule("eval.fusion.weights", FRACTION, each=True),
    Rule("eval.embed_batch_size", COUNT),
    Rule("trainer.max_epochs", COUNT),  # normally ${extractor.epochs}; 0 would export an untrained extractor
    Rule("trainer.num_nodes", COUNT),
    Rule("trainer.log_every_n_steps", COUNT),
    Rule("trainer.limit_train_batches", Number(integer=False, low=0, open_low=True, nullable=True)),
    Rule("trainer.limit_val_batches", Number(integer=False, low=0, open_low=True, nullable=True)),
    Rule("export.opset", Number(low=7)),
)


def _keys(node: Any, prefix: str = "") -> Iterator[str]:
    """Every dotted key of a config tree, leaves and branches, without resolving interpolations."""
    if isinstance(node, DictConfig):
        for key in node.keys():
            path = f"{prefix}{key}"
            yield path
            yield from _keys(node._get_node(key), f"{path}.")


def _example(check: Number) -> float | int:
    """A valid value of `check`, for the message."""
    if check.low is None:
        return 0 if check.high is None or check.high >= 0 else check.high
    if check.high is not None:
        return (check.low + check.high) / 2 if check.open_low or check.open_high else check.high
    step = 1 if check.integer else 0.5
    return check.low + step if check.open_low else check.low


def _fix(key: str, check: Number, each: bool) -> str:
    """The expected value in words and a valid example override."""
    example = _example(check)
    if each:
        what = check.describe().replace("an integer", "integers").replace("a number", "numbers")
        return f"expected a list of {what}, e.g. {key}=[{example:g}]"
    return f"expected {check.describe()}, e.g. {key}={example:g}"


def _show(value: Any) -> str:
    shown = OmegaConf.to_container(value) if isinstance(value, (DictConfig, ListConfig)) else value
    return shown if isinstance(shown, str) else str(shown).replace(" ", "")


def check_arg(key: str, value: Any, check: Number) -> None:
    """Raise ConfigValueError naming command-line argument `key` when `value` breaks `check`."""
    check_value(key, value, Rule(key, check))


def check_value(key: str, value: Any, rule: Rule) -> None:
    """Raise ConfigValueError naming `key` when `value` breaks `rule`."""
    if rule.each:
        items = OmegaConf.to_container(value) if isinstance(value, ListConfig) else value
        if not isinstance(items, list) or not all(rule.check.accepts(v) for v in items):
            raise ConfigValueError(f"{key}={_show(value)}: {_fix(key, rule.check, True)}")
    elif not rule.check.accepts(value):
        raise ConfigValueError(f"{key}={_show(value)}: {_fix(key, rule.check, False)}")


def _matches(pattern: str, key: str) -> bool:
    """True when dotted `key` fits `pattern`, where `*` stands for exactly one level."""
    parts, names = pattern.split("."), key.split(".")
    return len(parts) == len(names) and all(p in ("*", n) for p, n in zip(parts, names, strict=True))


def validate_config(cfg: DictConfig) -> None:
    """Check every option a rule covers (types and ranges); the first bad one raises ConfigValueError."""
    keys = list(_keys(cfg))
    for rule in RULES:
        for key in (k for k in keys if _matches(rule.pattern, k)):
            check_value(key, OmegaConf.select(cfg, key), rule)
    check_stage_options(cfg)


def check_stage_options(cfg: DictConfig) -> None:
    """Options that only make sense together: at least one stage, evaluation FPRs not empty."""
    if not list(cfg.get("stages") or []):
        raise ConfigValueError("stages=[]: no stage to run; set stages=[preprocess,train_extractor,embed,fit_head,"
                               "evaluate] or a part of it")
    if not list(cfg.eval.get("fpr_targets") or []):
        raise ConfigValueError("eval.fpr_targets=[]: expected at least one false-positive rate, e.g. "
                               "eval.fpr_targets=[0.01,0.05]")


def check_roots(cfg: DictConfig) -> None:
    """Every dataset of the run (training and test_data) has its root folder (or an adapter that builds it)."""
    check_root(cfg.data, "data")
    for key, data in (cfg.get("test_data") or {}).items():
        check_root(data, f"test_data.{key}")


def check_run(cfg: DictConfig) -> None:
    """What must hold before a run writes anything: known stages, valid option values, existing dataset roots
    (when the run preprocesses: later stages read the face cache, not the dataset)."""
    from src.stages import check_stages

    check_stages(list(cfg.stages))
    validate_config(cfg)
    if "preprocess" in cfg.stages:
        check_roots(cfg)
