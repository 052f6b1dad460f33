"""dfshield: imbalance-robust deepfake detectors for DeepfakeBench-format data."""

__version__ = "0.1.0"
