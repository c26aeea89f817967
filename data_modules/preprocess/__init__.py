"""Face preprocessing: frame sampling, face + 68-landmark detection, and the resumable face-cache writer."""

from data_modules.preprocess.detectors import build_detector, check_face_config
from data_modules.preprocess.face import Face, FaceDetector
from data_modules.preprocess.frames import VideoReadError, sample_frames, uniform_indices
from data_modules.preprocess.track import extract_track
from data_modules.preprocess.writer import FaceCacheSummary, process_video, write_face_cache

__all__ = ["Face", "FaceDetector", "VideoReadError", "FaceCacheSummary", "build_detector", "check_face_config", "extract_track",
           "process_video", "sample_frames", "uniform_indices", "write_face_cache"]
