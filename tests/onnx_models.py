"""Tiny ONNX stand-ins with the input/output names and shapes of insightface's buffalo_l models.

det_10g.onnx (SCRFD): input "input.1" [1,3,H,W]; 9 outputs (scores [N,1], boxes [N,4], keypoints [N,10] at
strides 8/16/32, 2 anchors per cell). This one scores a stride-32 cell by how white it is and predicts a box
of 48 px to each side of the cell centre. 1k3d68.onnx: input "data" [1,3,192,192], output "fc1" [1,3309]
(1103 x,y,z points in [-1,1] crop units, the last 68 are the landmarks); this one always returns TEMPLATE.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SCRFD_OUTPUTS = ["448", "471", "494", "451", "474", "497", "454", "477", "500"]
BOX_HALF = 48  # pixels from the cell centre to each box side, in detector input pixels


def template_landmarks() -> np.ndarray:
    """A frontal 68-point layout in [-1,1] crop units: jaw, brows, nose, eyes (36 left of 45), mouth."""
    jaw = [(-0.5 + i / 16, 0.1 + 0.4 * (1 - abs(i - 8) / 8)) for i in range(17)]
    brows = [(-0.45 + 0.09 * i + (0.1 if i > 4 else 0), -0.35) for i in range(10)]
    nose = [(0.0, -0.2 + 0.07 * i) for i in range(4)] + [(-0.1 + 0.05 * i, 0.1) for i in range(5)]
    eyes = [(-0.35 + 0.05 * i, -0.2) for i in range(6)] + [(0.1 + 0.05 * i, -0.2) for i in range(6)]
    mouth = [(-0.25 + 0.5 * i / 11, 0.3) for i in range(12)] + [(-0.15 + 0.3 * i / 7, 0.32) for i in range(8)]
    return np.array(jaw + brows + nose + eyes + mouth, dtype=np.float32)


TEMPLATE = template_landmarks()


def _const(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def write_scrfd(path: Path) -> Path:
    """A 9-output SCRFD-shaped detector that finds fully white 32x32 cells."""
    nodes, inits, outputs = [], [], []
    heads = {"score": (2, 1), "bbox": (8, 4), "kps": (20, 10)}
    for head_index, (head, (channels, width)) in enumerate(heads.items()):
        for level, stride in enumerate((8, 16, 32)):
            pool, conv = f"pool{stride}_{head}", f"conv{stride}_{head}"
            nodes.append(helper.make_node("AveragePool", ["input.1"], [pool], kernel_shape=[stride, stride],
                                          strides=[stride, stride]))
            weight = np.zeros((channels, 3, 1, 1), np.float32)
            bias = np.zeros(channels, np.float32)
            if head == "score":
                weight[:] = 4.0 if stride == 32 else 0.0
                bias[:] = -6.0 if stride == 32 else -20.0
            elif head == "bbox":
                bias[:] = BOX_HALF / stride
            inits += [_const(f"w_{conv}", weight), _const(f"b_{conv}", bias)]
            nodes.append(helper.make_node("Conv", [pool, f"w_{conv}", f"b_{conv}"], [conv]))
            last = conv
            if head == "score":
                nodes.append(helper.make_node("Sigmoid", [conv], [f"{conv}_sig"]))
                last = f"{conv}_sig"
            nodes.append(helper.make_node("Transpose", [last], [f"{conv}_t"], perm=[0, 2, 3, 1]))
            inits.append(numpy_helper.from_array(np.array([-1, width], np.int64), f"shape_{conv}"))
            name = SCRFD_OUTPUTS[head_index * 3 + level]
            nodes.append(helper.make_node("Reshape", [f"{conv}_t", f"shape_{conv}"], [name]))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n", width]))
    graph = helper.make_graph(nodes, "scrfd_stub", [helper.make_tensor_value_info(
        "input.1", TensorProto.FLOAT, [1, 3, "h", "w"])], outputs, inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def write_landmark_3d_68(path: Path) -> Path:
    """A 1k3d68-shaped model that returns TEMPLATE (with z = 0) whatever the crop."""
    points = np.zeros((1103, 3), np.float32)
    points[-68:, :2] = TEMPLATE
    nodes = [
        helper.make_node("ReduceMean", ["data"], ["avg"], axes=[1, 2, 3], keepdims=0, name="avg"),
        helper.make_node("Reshape", ["avg", "shape11"], ["avg11"], name="reshape"),
        helper.make_node("MatMul", ["avg11", "zeros"], ["zero_out"], name="matmul"),
        helper.make_node("Add", ["zero_out", "points"], ["fc1"], name="add"),
    ]
    inits = [numpy_helper.from_array(np.array([1, 1], np.int64), "shape11"),
             _const("zeros", np.zeros((1, 3309))), _const("points", points.reshape(1, -1))]
    graph = helper.make_graph(nodes, "lmk_stub", [helper.make_tensor_value_info("data", TensorProto.FLOAT,
                                                                                 [1, 3, 192, 192])],
                              [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, 3309])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def write_model_pack(folder: Path) -> Path:
    """A buffalo_l-like folder with both stand-ins."""
    folder.mkdir(parents=True, exist_ok=True)
    write_scrfd(folder / "det_10g.onnx")
    write_landmark_3d_68(folder / "1k3d68.onnx")
    return folder
