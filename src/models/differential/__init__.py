"""Stage 2, the differential detector: same-video frame pairs, pair operators, one-class heads, calibration,
fusion with the stage-1 classifier, and one scorer with typed results that saves and loads a run's detector."""
