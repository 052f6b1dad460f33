"""Detectors; importing this package registers the built-in ones (and their backbones)."""

import dfshield.backbones  # noqa: F401  (registers the backbones the detectors build)
from dfshield.detectors import (  # noqa: F401  (importing registers them)
    clip_linear,
    ddln,
    deepfakebench_wrapper,
    rdaa,
    robust_clip,
    spcup,
)
from dfshield.detectors.base import BaseDetector
from dfshield.detectors.check import check_detector
from dfshield.registry import DETECTOR

__all__ = ["BaseDetector", "build_detector", "check_detector"]


def build_detector(cfg: dict) -> BaseDetector:
    """Build a registered detector from ``{name: ..., backbone: {...}, **options}``: the one way
    to build a detector (``DETECTOR.build``, typed). A DeepfakeBench-style class registered in
    ``DETECTOR`` is built as the ``deepfakebench`` wrapper (``DETECTOR.wrap``)."""
    return DETECTOR.build(cfg)
