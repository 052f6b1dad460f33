"""Detectors and backbones; importing this package registers the built-in ones."""

from dfshield.detectors import (  # noqa: F401  (importing registers them)
    clip_backbone,
    clip_linear,
    ddln,
    rdaa,
    robust_clip,
    spcup,
    timm_backbone,
)
from dfshield.detectors.base import BaseDetector
from dfshield.detectors.check import check_detector

__all__ = ["BaseDetector", "build_detector", "check_detector"]


def build_detector(cfg: dict) -> BaseDetector:
    """Build a registered detector from ``{name: ..., backbone: {...}, **options}``."""
    from dfshield.registry import DETECTOR

    return DETECTOR.build(cfg)
