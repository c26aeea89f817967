"""The one-class head protocol: fit on real pair features, score (higher = more likely fake), save, load."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from safetensors.numpy import load_file
from safetensors.numpy import save as safetensors_bytes

from data_modules.io import atomic_write_bytes, atomic_write_json, read_json, reading
from data_modules.registry import Registry
from src.utils.logging import get_logger

log = get_logger(__name__)
HEADS: Registry[type[Head]] = Registry("head")

META_FILE = "head.json"
ARRAYS_FILE = "head.safetensors"


def params_from_cfg(params_cls: type, cfg: dict[str, Any], head: str) -> Any:
    """Build a params dataclass from a config dict, naming unknown keys and the valid ones."""
    valid = {f.name for f in fields(params_cls)}
    unknown = sorted(set(cfg) - valid)
    if unknown:
        raise ValueError(f"head '{head}': unknown option(s) {unknown}; valid: {sorted(valid)}")
    return params_cls(**cfg)


def as_features(X: np.ndarray, what: str) -> np.ndarray:
    """Check a [N, D] finite feature matrix and return it as float32."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"{what}: expected a non-empty [N, D] feature matrix, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{what}: features contain NaN or inf")
    return X


def subsample(X: np.ndarray, cap: int | None, seed: int, head: str) -> np.ndarray:
    """At most `cap` rows of X (a seeded subset in original order); all rows when cap is None."""
    if not cap or len(X) <= cap:
        return X
    log.info("%s: fitting on %d of %d training pairs (max_train, seed %d)", head, cap, len(X), seed)
    return X[np.sort(np.random.default_rng(seed).choice(len(X), cap, replace=False))]


class Head(ABC):
    """A one-class model over pair features. Subclasses set `name` and `Params` (a dataclass)."""

    name: ClassVar[str]
    Params: ClassVar[type]

    def __init__(self, params: Any, seed: int) -> None:
        self.params = params
        self.seed = int(seed)
        self.in_dim: int | None = None

    @abstractmethod
    def fit(self, X: np.ndarray) -> Head:
        """Fit on real pair features [N, D]; returns self."""

    @abstractmethod
    def score(self, X: np.ndarray) -> np.ndarray:
        """Anomaly scores [N] float64, higher = more likely fake."""

    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """Every fitted array, for safetensors."""

    @abstractmethod
    def restore(self, arrays: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        """Rebuild the fitted state from `arrays()` and `state()`."""

    def state(self) -> dict[str, Any]:
        """Fitted scalars for head.json (override to add)."""
        return {}

    def _check_fitted(self, X: np.ndarray) -> np.ndarray:
        if self.in_dim is None:
            raise RuntimeError(f"head '{self.name}' is not fitted: call fit(X) or load a saved head")
        X = as_features(X, f"{self.name}.score")
        if X.shape[1] != self.in_dim:
            raise ValueError(f"{self.name}.score: features have {X.shape[1]} dims, the head was fitted on {self.in_dim}")
        return X

    def save(self, directory: Path | str) -> Path:
        """Write head.json (name, params, seed, fitted scalars) and head.safetensors into `directory`."""
        if self.in_dim is None:
            raise RuntimeError(f"cannot save head '{self.name}' before fit")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {k: np.ascontiguousarray(v) for k, v in self.arrays().items()}
        atomic_write_bytes(directory / ARRAYS_FILE, safetensors_bytes(arrays))
        atomic_write_json(directory / META_FILE, {"name": self.name, "params": asdict(self.params), "seed": self.seed,
                                                  "in_dim": self.in_dim, "state": self.state()})
        return directory

    @classmethod
    def load(cls, directory: Path | str) -> Head:
        """Rebuild a saved head of this class from `directory`."""
        meta = read_meta(directory)
        if meta["name"] != cls.name:
            raise ValueError(f"{directory} holds a '{meta['name']}' head, not '{cls.name}'")
        head = cls(cls.Params(**meta["params"]), meta["seed"])
        head.in_dim = int(meta["in_dim"])
        with reading(Path(directory) / ARRAYS_FILE, f"rerun the fit_head stage ({directory} is one of its heads)"):
            arrays = load_file(str(Path(directory) / ARRAYS_FILE))
        head.restore(arrays, meta["state"])
        return head


def read_meta(directory: Path | str) -> dict[str, Any]:
    """head.json of a saved head, or a clear error."""
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no saved head at {directory} (missing {META_FILE}); run the fit_head stage")
    return read_json(path, f"rerun the fit_head stage ({directory} is one of its heads)")

