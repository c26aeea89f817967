"""Face detection and 68 landmarks on real faces (dlib), the insightface backend on stand-in ONNX models,
face selection, and the enlarged crops."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from data_modules.preprocess import build_detector, extract_track, sample_frames
from data_modules.preprocess.face import Face
from data_modules.preprocess.insightface_backend import InsightFaceDetector, providers
from data_modules.preprocess.track import enlarged_crop
from tests.face_media import astronaut, group_photo, paste
from tests.onnx_models import BOX_HALF, TEMPLATE, write_landmark_3d_68, write_model_pack, write_scrfd

DLIB = {"backend": "dlib", "upsample": 0, "select": "largest", "min_face_px": 24, "crop_scale": 2.0,
        "max_crop_side": 512}


@pytest.fixture(scope="module")
def dlib_detector():
    return build_detector(DLIB)


def assert_plausible(landmarks: np.ndarray, box: np.ndarray, slack: float = 0.1) -> None:
    """Eyes and mouth inside the (slightly grown) box, 36 left of 45, mouth below the eyes, nose between."""
    w, h = box[2] - box[0], box[3] - box[1]
    lo, hi = box[:2] - slack * np.array([w, h]), box[2:] + slack * np.array([w, h])
    inner = landmarks[36:68]
    assert np.all(inner >= lo) and np.all(inner <= hi), (inner.min(0), inner.max(0), box)
    eyes, mouth, nose_tip = landmarks[36:48], landmarks[48:68], landmarks[30]
    assert landmarks[36, 0] < landmarks[45, 0]  # subject's right eye outer corner is on the image left
    assert landmarks[39, 0] < landmarks[42, 0]
    assert mouth[:, 1].mean() > nose_tip[1] > eyes[:, 1].mean()
    assert landmarks[36, 0] < nose_tip[0] < landmarks[45, 0]


def test_dlib_astronaut_one_plausible_face(dlib_detector):
    faces = dlib_detector.detect(astronaut())
    assert len(faces) == 1
    face = faces[0]
    assert face.landmarks.shape == (68, 2) and face.landmarks.dtype == np.float32
    assert 150 < face.box[0] < 200 and 60 < face.box[1] < 110 and 70 < face.size < 110
    assert_plausible(face.landmarks, face.box)


def test_dlib_grid_clips_faces_in_every_sampled_frame(dlib_detector, shared_media):
    for clip in sorted((shared_media / "grid").glob("*.mpg"))[:4]:
        track = extract_track(sample_frames(clip, 4), dlib_detector, DLIB)
        assert len(track.crops) == 4 and not track.skipped, clip.name
        for t in range(4):
            assert_plausible(track.landmarks[t], track.boxes[t] - np.tile(track.crop_boxes[t, :2], 2))


def test_several_faces_largest_is_kept(dlib_detector):
    photo = group_photo()
    faces = dlib_detector.detect(photo)
    assert len(faces) >= 2
    track = extract_track([(0, photo)], dlib_detector, DLIB)
    assert np.allclose(track.boxes[0], max(faces, key=lambda f: f.area).box)


def test_select_track_follows_the_first_face(dlib_detector):
    face = astronaut()[40:232, 140:312]
    frames = []
    for t, (left, right) in enumerate([(1.4, 0.9), (0.9, 1.4), (0.8, 1.5)]):
        canvas = np.zeros((360, 720, 3), np.uint8)
        a = cv2.resize(face, None, fx=left, fy=left)
        b = cv2.resize(face, None, fx=right, fy=right)
        canvas[20:20 + a.shape[0], 20:20 + a.shape[1]] = a
        canvas[20:20 + b.shape[0], 400:400 + b.shape[1]] = b
        frames.append((t, canvas))
    largest = extract_track(frames, dlib_detector, DLIB)
    tracked = extract_track(frames, dlib_detector, {**DLIB, "select": "track"})
    assert [b[0] < 360 for b in largest.boxes] == [True, False, False]
    assert [b[0] < 360 for b in tracked.boxes] == [True, True, True]


def test_no_face_tiny_face_and_upsampling(dlib_detector):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    small = paste((240, 320), cv2.resize(astronaut()[60:200, 160:290], (65, 70)), 120, 80)  # ~45 px face
    track = extract_track([(0, noise), (5, small), (9, astronaut())], dlib_detector, {**DLIB, "min_face_px": 60})
    assert track.skipped == [(0, "no face"), (5, "no face")] and list(track.frame_indices) == [9]
    tiny = extract_track([(0, astronaut())], dlib_detector, {**DLIB, "min_face_px": 200})
    assert tiny.skipped == [(0, "tiny face")] and len(tiny.crops) == 0
    assert tiny.landmarks.shape == (0, 68, 2)
    upsampled = build_detector({**DLIB, "upsample": 1}).detect(small)
    assert len(upsampled) == 1 and upsampled[0].size < 60


def test_grayscale_frame_gives_rgb_crop(dlib_detector):
    gray = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY)
    track = extract_track([(3, gray)], dlib_detector, DLIB)
    assert track.crops[0].ndim == 3 and track.crops[0].shape[2] == 3
    assert_plausible(track.landmarks[0], track.boxes[0] - np.tile(track.crop_boxes[0, :2], 2))


def test_4k_frame_detected_on_a_small_copy_cropped_at_full_resolution(dlib_detector):
    face = cv2.resize(astronaut()[40:232, 140:312], None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    frame = paste((2160, 3840), face, 1500, 600)  # face about 400 px in a 3840x2160 frame
    track = extract_track([(0, frame)], dlib_detector, {**DLIB, "max_crop_side": 512})
    box, window, crop = track.boxes[0], track.crop_boxes[0], track.crops[0]
    assert 1550 < box[0] < 1700 and 300 < box[2] - box[0] < 480  # full-resolution coordinates
    assert max(crop.shape[:2]) == 512 and window[2] - window[0] > 600  # cropped big, then capped
    scale = 512 / max(window[2] - window[0], window[3] - window[1])
    in_frame = track.landmarks[0] / scale + window[:2]
    face_hit = dlib_detector.detect(frame)[0]
    assert np.abs(in_frame - face_hit.landmarks).max() < 1.5


def test_crop_window_scale_clipping_and_landmark_shift():
    frame = np.zeros((200, 300, 3), np.uint8)
    landmarks = np.tile(np.array([[250.0, 20.0]], np.float32), (68, 1))
    face = Face(box=np.array([230, 0, 290, 60], np.float32), score=1.0, landmarks=landmarks)
    crop, points, window = enlarged_crop(frame, face, crop_scale=2.0, max_side=512)
    assert list(window) == [200, 0, 300, 90]  # 120 px square around the centre, clipped at the borders
    assert crop.shape == (90, 100, 3) and np.allclose(points[0], [50, 20])
    crop, points, _ = enlarged_crop(frame, face, crop_scale=2.0, max_side=50)
    assert max(crop.shape[:2]) == 50 and np.allclose(points[0], [25, 10])


def test_insightface_stand_in_models_box_and_landmarks(tmp_path):
    detector = build_detector({**DLIB, "backend": "insightface", "model_dir": str(write_model_pack(tmp_path / "m")),
                               "det_size": 640, "det_thresh": 0.5})
    assert isinstance(detector, InsightFaceDetector)
    frame = np.zeros((640, 1280, 3), np.uint8)
    frame[512:576, 512:576] = 255  # one white 32x32 detector cell at scale 0.5
    (face,) = detector.detect(frame)
    # SCRFD anchors sit at cell corners (x*stride): centre 256 in detector pixels, 512 in the frame
    half = BOX_HALF / 0.5
    assert np.allclose(face.box, [512 - half, 512 - half, 512 + half, 512 + half]) and face.score > 0.99
    expected = 512 + TEMPLATE * 0.75 * (2 * half)  # landmark crop is 1.5x the box, output in [-1,1] units
    assert np.allclose(face.landmarks, expected, atol=0.6)
    assert_plausible(face.landmarks, face.box)
    track = extract_track([(0, frame), (1, np.zeros_like(frame))], detector, {**DLIB, "min_face_px": 10})
    assert len(track.crops) == 1 and track.skipped == [(1, "no face")]
    assert providers()[-1] == "CPUExecutionProvider"


def test_insightface_missing_or_incomplete_model_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*det_10g.onnx.*1k3d68.onnx"):
        InsightFaceDetector(tmp_path / "nowhere")
    folder = tmp_path / "half"
    folder.mkdir()
    write_scrfd(folder / "det_10g.onnx")
    with pytest.raises(FileNotFoundError, match="missing 1k3d68.onnx.*found det_10g.onnx"):
        InsightFaceDetector(folder)
    (folder / "1k3d68.onnx").write_bytes(b"\x08\x07garbage")
    with pytest.raises(ValueError, match="1k3d68.onnx.*truncated or corrupt"):
        InsightFaceDetector(folder)
    write_landmark_3d_68(folder / "1k3d68.onnx")
    assert InsightFaceDetector(folder).detect(np.zeros((64, 64, 3), np.uint8)) == []


def test_unknown_backend_and_selection(dlib_detector):
    with pytest.raises(ValueError, match="valid choices: dlib, insightface"):
        build_detector({"backend": "haar"})
    with pytest.raises(ValueError, match="valid choices: largest, track"):
        extract_track([(0, astronaut())], dlib_detector, {**DLIB, "select": "first"})


def test_a_small_face_in_a_1080p_frame_is_found_on_the_retry_at_a_larger_size():
    """At detect_max_side 640 the ~120 px face of a 1920x1080 frame shrinks to ~40 px, under HOG's minimum;
    before the frame counts as faceless it is detected again at retry_max_side, and the retry is counted."""
    face = cv2.resize(astronaut()[40:232, 140:312], None, fx=1.3, fy=1.3, interpolation=cv2.INTER_CUBIC)
    frame = paste((1080, 1920), face, 1200, 500)
    plain = build_detector({**DLIB, "retry_max_side": None})
    assert plain.detect(frame) == [] and plain.retries == 0
    retrying = build_detector({**DLIB, "retry_max_side": 1920})
    (found,) = retrying.detect(frame)
    assert (retrying.retries, retrying.found_on_retry) == (1, 1)
    assert 1200 < found.box[0] < found.box[2] < 1200 + face.shape[1] and found.size > 100  # full-frame pixels
    assert_plausible(found.landmarks, found.box)
    retrying.detect(astronaut())  # found at the first size: no retry
    retrying.detect(np.zeros((240, 320, 3), np.uint8))  # no larger size to try
    assert (retrying.retries, retrying.found_on_retry) == (1, 1)
    retrying.detect(np.zeros((1080, 1920, 3), np.uint8))  # retried, and still faceless
    assert (retrying.retries, retrying.found_on_retry) == (2, 1)
