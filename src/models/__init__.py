"""Models: the stage-1 feature extractor (extractor/) and the stage-2 differential detector (differential/)."""
