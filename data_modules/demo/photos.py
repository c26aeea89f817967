"""Face photos that ship inside installed packages, each face cropped into one demo identity."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from data_modules.demo.landmarks import detect_faces

# (identity prefix, package, path inside the package); a photo holding several faces gives several identities.
PACKAGE_PHOTOS: list[tuple[str, str, str]] = [
    ("hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    ("hanks", "insightface", "data/images/Tom_Hanks_54745.png"),
    ("t1", "insightface", "data/images/t1.jpg"),
]


@dataclass(frozen=True)
class Identity:
    """One face: a square context image around it and its 68 landmarks in that image's pixels."""

    name: str
    image: np.ndarray  # uint8 [S,S,3] RGB
    landmarks: np.ndarray  # float32 [68,2]


def _package_file(package: str, relative: str) -> Path | None:
    """Absolute path of a data file inside an installed package (without importing it), or None."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.is_file() else None


def _read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"cannot decode the demo photo {path}; reinstall the package that ships it")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def package_photos() -> list[tuple[str, np.ndarray]]:
    """(prefix, RGB photo) for scikit-image's astronaut and every packaged photo that is installed."""
    from skimage import data

    photos = [("astronaut", data.astronaut())]
    for prefix, package, relative in PACKAGE_PHOTOS:
        path = _package_file(package, relative)
        if path is not None:
            photos.append((prefix, _read_rgb(path)))
    return photos


def crop_identity(name: str, photo: np.ndarray, landmarks: np.ndarray, size: int, context: float) -> Identity:
    """Square crop of side `context` x the landmark box around the face, resized to size. Where the crop leaves
    the photo, a heavily blurred reflection fills in (no sharp mirrored faces for the detector to find)."""
    lo, hi = landmarks.min(0), landmarks.max(0)
    centre = (lo + hi) / 2
    scale = size / (float(max(hi - lo)) * context)
    # Affine map: photo pixels -> crop pixels, face centred.
    matrix = np.array([[scale, 0, size / 2 - scale * centre[0]], [0, scale, size / 2 - scale * centre[1]]],
                      dtype=np.float64)
    image = cv2.warpAffine(photo, matrix, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
    inside = cv2.warpAffine(np.ones(photo.shape[:2], np.float32), matrix, (size, size), flags=cv2.INTER_LINEAR)
    if inside.min() < 1.0:
        inside = cv2.GaussianBlur(inside, (0, 0), size / 64)[..., None]
        blurred = cv2.GaussianBlur(image, (0, 0), size / 24)
        image = (image * inside + blurred * (1 - inside) + 0.5).astype(np.uint8)
    moved = landmarks @ matrix[:, :2].T + matrix[:, 2]
    return Identity(name=name, image=image, landmarks=moved.astype(np.float32))


def load_identities(size: int, context: float, min_face_px: int = 40) -> list[Identity]:
    """Every face of every packaged photo, left to right, as an identity named `<prefix>` or `<prefix>_<i>`."""
    identities = []
    for prefix, photo in package_photos():
        faces = [f for f in detect_faces(photo) if float(np.ptp(f[:, 0])) >= min_face_px]
        faces.sort(key=lambda lms: float(lms[:, 0].mean()))
        for i, landmarks in enumerate(faces):
            name = prefix if len(faces) == 1 else f"{prefix}_{i}"
            identities.append(crop_identity(name, photo, landmarks, size, context))
    if len(identities) < 2:
        raise RuntimeError("the demo needs at least two faces from installed packages (scikit-image, insightface, "
                           "matplotlib); reinstall them with `make venv`")
    return identities
