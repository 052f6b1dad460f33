"""Media: decoding, frame sampling, face cropping and the one image/video pipeline (lowest)."""
