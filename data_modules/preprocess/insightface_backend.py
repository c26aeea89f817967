"""insightface backend: SCRFD detector plus the landmark_3d_68 model, run directly with onnxruntime.

We load the ONNX files ourselves instead of through insightface.model_zoo: the library's Landmark class
unpickles a bundled mean shape (this project allows no pickle), model_zoo may try downloads, and a missing
file surfaces as a bare AssertionError. Decoding SCRFD's anchor grid and the 68-point output is short.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import onnxruntime as ort

from data_modules.preprocess.face import Face

LANDMARK_FILE = "1k3d68.onnx"
DETECTOR_PATTERNS = ("det_*.onnx", "scrfd*.onnx")
EXPECTED = (f"an SCRFD detector ({' or '.join(DETECTOR_PATTERNS)}, e.g. det_10g.onnx from buffalo_l) and "
            f"the landmark_3d_68 model {LANDMARK_FILE}")
NMS_IOU = 0.4
# outputs -> (strides, anchors per cell): SCRFD exports with and without keypoint heads
SCRFD_LAYOUTS = {6: ((8, 16, 32), 2), 9: ((8, 16, 32), 2), 10: ((8, 16, 32, 64, 128), 1),
                 15: ((8, 16, 32, 64, 128), 1)}


def find_models(model_dir: str | Path) -> tuple[Path, Path]:
    """(detector, landmark) files of an insightface model pack, or an error listing what is expected."""
    folder = Path(model_dir)
    fix = ("unzip an insightface pack such as buffalo_l (github.com/deepinsight/insightface, model_zoo) there, "
           "or point face.model_dir (or $DIFFFAKE_INSIGHTFACE_MODELS) at one")
    if not folder.is_dir():
        raise FileNotFoundError(f"insightface model_dir {folder} does not exist; it must hold {EXPECTED}: {fix}")
    detectors = sorted(p for pattern in DETECTOR_PATTERNS for p in folder.glob(pattern))
    missing = ([] if detectors else [" or ".join(DETECTOR_PATTERNS)]) + \
        ([] if (folder / LANDMARK_FILE).is_file() else [LANDMARK_FILE])
    if missing:
        present = ", ".join(sorted(p.name for p in folder.iterdir())) or "nothing"
        raise FileNotFoundError(f"insightface model_dir {folder} is incomplete: missing {', '.join(missing)} "
                                f"(expected {EXPECTED}; found {present}); {fix}")
    return detectors[0], folder / LANDMARK_FILE


def providers() -> list[str]:
    """CUDA first when onnxruntime-gpu sees a GPU, else the CPU."""
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def _session(path: Path) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(path), providers=providers())
    except Exception as err:  # onnxruntime raises its own untyped errors for unreadable models
        raise ValueError(f"cannot load insightface model {path} ({err}); the file looks truncated or corrupt: "
                         f"download the pack again") from err


def _normalises_inside(path: Path) -> bool:
    """True when the graph subtracts the mean and scales itself (mxnet exports), so raw pixels go in."""
    names = [n.name for n in onnx.load(str(path), load_external_data=False).graph.node[:8]]
    sub = any(n.startswith(("Sub", "_minus")) for n in names)
    mul = any(n.startswith(("Mul", "_mul")) for n in names)
    return (sub and mul) or "bn_data" in names[:3]


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression, best score first."""
    order, keep = np.argsort(-scores, kind="stable"), []
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        wh = np.clip(np.minimum(boxes[i, 2:], boxes[rest, 2:]) - np.maximum(boxes[i, :2], boxes[rest, :2]), 0, None)
        inter = wh[:, 0] * wh[:, 1]
        order = rest[inter / (area[i] + area[rest] - inter + 1e-9) <= iou]
    return keep


class InsightFaceDetector:
    """SCRFD boxes on a det_size letterbox, then 68 landmarks from a 1.5x box crop per face."""

    def __init__(self, model_dir: str | Path, det_size: int = 640, det_thresh: float = 0.5) -> None:
        det_path, lmk_path = find_models(model_dir)
        self.det_size, self.det_thresh = det_size, det_thresh
        self._det = _session(det_path)
        self._lmk = _session(lmk_path)
        n_out = len(self._det.get_outputs())
        if n_out not in SCRFD_LAYOUTS:
            raise ValueError(f"{det_path} has {n_out} outputs; an SCRFD detector has 6, 9, 10 or 15")
        self._strides, self._anchors = SCRFD_LAYOUTS[n_out]
        self._lmk_size = int(self._lmk.get_inputs()[0].shape[2])
        self._lmk_norm = (0.0, 1.0) if _normalises_inside(lmk_path) else (127.5, 128.0)

    @classmethod
    def from_config(cls, face_cfg: Mapping[str, Any]) -> InsightFaceDetector:
        """A detector from `face.model_dir`, `face.det_size` and `face.det_thresh`."""
        return cls(model_dir=str(face_cfg["model_dir"]), det_size=int(face_cfg.get("det_size", 640)),
                   det_thresh=float(face_cfg.get("det_thresh", 0.5)))

    @staticmethod
    def check_config(face_cfg: Mapping[str, Any]) -> None:
        """The model pack must hold a detector and the 68-point landmark model."""
        find_models(str(face_cfg["model_dir"]))

    def _boxes(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Face boxes (frame pixels) and scores after NMS."""
        h, w = frame.shape[:2]
        scale = self.det_size / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        canvas = np.zeros((self.det_size, self.det_size, 3), dtype=np.float32)
        canvas[:nh, :nw] = cv2.resize(frame, (nw, nh))
        blob = ((canvas - 127.5) / 128.0).transpose(2, 0, 1)[None]
        outs = self._det.run(None, {self._det.get_inputs()[0].name: blob})
        fmc, boxes, scores = len(self._strides), [], []
        for level, stride in enumerate(self._strides):
            score = outs[level].reshape(-1)
            dist = outs[level + fmc].reshape(-1, 4) * stride
            cells = self.det_size // stride
            grid = np.stack(np.mgrid[:cells, :cells][::-1], axis=-1).reshape(-1, 2).astype(np.float32) * stride
            centers = np.repeat(grid, self._anchors, axis=0)
            keep = score >= self.det_thresh
            boxes.append(np.hstack([centers[keep] - dist[keep, :2], centers[keep] + dist[keep, 2:]]))
            scores.append(score[keep])
        boxes_all, scores_all = np.concatenate(boxes), np.concatenate(scores)
        kept = nms(boxes_all, scores_all, NMS_IOU)
        return boxes_all[kept] / scale, scores_all[kept]

    def _landmarks(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        """68 (x, y) landmarks in frame pixels from a square crop of 1.5x the box's long side."""
        size = self._lmk_size
        center = (box[:2] + box[2:]) / 2
        scale = size / (float(max(box[2] - box[0], box[3] - box[1])) * 1.5)
        warp = np.array([[scale, 0, size / 2 - center[0] * scale], [0, scale, size / 2 - center[1] * scale]])
        crop = cv2.warpAffine(frame, warp, (size, size), borderValue=0).astype(np.float32)
        mean, std = self._lmk_norm
        blob = ((crop - mean) / std).transpose(2, 0, 1)[None]
        pred = self._lmk.run(None, {self._lmk.get_inputs()[0].name: blob})[0][0]
        points = pred.reshape(-1, 3 if pred.size >= 3000 else 2)[-68:, :2]
        xy = (points + 1) * (size // 2)
        return ((xy - warp[:, 2]) / scale).astype(np.float32)

    def detect(self, frame_rgb: np.ndarray) -> list[Face]:
        """Faces with SCRFD scores and 68 landmarks in frame pixels."""
        frame = frame_rgb if frame_rgb.ndim == 3 else cv2.cvtColor(frame_rgb, cv2.COLOR_GRAY2RGB)
        boxes, scores = self._boxes(frame)
        return [Face(box=b.astype(np.float32), score=float(s), landmarks=self._landmarks(frame, b))
                for b, s in zip(boxes, scores, strict=True)]
