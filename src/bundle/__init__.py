"""A portable, checksummed detector: export a finished run to one folder, verify and open it anywhere."""
