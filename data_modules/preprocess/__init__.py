"""Face preprocessing: frame sampling, face + 68-landmark detection, and the resumable face-cache writer."""

from data_modules.preprocess.detectors import Face, FaceDetector, build_detector
from data_modules.preprocess.frames import VideoReadError, sample_frames, uniform_indices
from data_modules.preprocess.track import extract_track
from data_modules.preprocess.writer import build_face_cache, process_video

__all__ = ["Face", "FaceDetector", "VideoReadError", "build_detector", "build_face_cache", "extract_track",
           "process_video", "sample_frames", "uniform_indices"]
