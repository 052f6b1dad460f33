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

__all__ = ["BaseDetector", "build_detector", "check_detector"]


def build_detector(cfg: dict) -> BaseDetector:
    """Build a registered detector from ``{name: ..., backbone: {...}, **options}``.

    A DeepfakeBench-style class registered in ``DETECTOR`` (constructor ``(config)``) is wrapped
    in the ``deepfakebench`` detector: ``{name: <its name>, config: <their YAML or mapping>}``.
    """
    from dfshield.detectors.deepfakebench_wrapper import (
        DeepfakeBenchDetector,
        is_deepfakebench_class,
    )
    from dfshield.registry import DETECTOR

    name = cfg.get("name") if isinstance(cfg, dict) else None
    if isinstance(name, str) and is_deepfakebench_class(DETECTOR.get(name)):
        options = {key: value for key, value in cfg.items() if key != "name"}
        return DeepfakeBenchDetector(**options, **{"class": DETECTOR.get(name)})
    return DETECTOR.build(cfg)
