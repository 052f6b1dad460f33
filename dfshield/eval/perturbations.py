"""Image perturbations for robustness evaluation (``dfshield robustness``).

Each is a pure function of an ``HxWx3`` uint8 RGB frame (and a seed, for noise) returning a new
frame of the same size: the post-processing axes of FaceForensics++ and DeeperForensics-1.0
(JPEG, blur, down-scaling, noise). Written ``kind:value`` (``jpeg:75``); the list and exact
definitions are in docs/predict-and-robustness.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from dfshield._suggest import did_you_mean
from dfshield.errors import ConfigError
from dfshield.media.frames import jpeg_round_trip

__all__ = [
    "Perturbation",
    "parse_perturbation",
    "parse_perturbations",
    "DEFAULT_PERTURBATIONS",
    "KINDS",
    "jpeg",
    "gaussian_blur",
    "downscale",
    "gaussian_noise",
]

#: What ``dfshield robustness`` runs when no ``--perturbations`` are given.
DEFAULT_PERTURBATIONS: tuple[str, ...] = (
    "clean",
    "jpeg:95",
    "jpeg:75",
    "jpeg:50",
    "jpeg:30",
    "blur:1",
    "blur:2",
    "downscale:0.5",
    "downscale:0.25",
    "noise:5",
    "noise:10",
)


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    array = np.asarray(rgb)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(
            f"perturbations take HxWx3 uint8 RGB frames, got shape {array.shape} "
            f"and dtype {array.dtype}"
        )
    return array


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """JPEG-compress an RGB frame at ``quality`` (1–100) and decode it again."""
    return jpeg_round_trip(_check_rgb(rgb), quality)


def gaussian_blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` pixels (kernel side ``2·ceil(3σ) + 1``)."""
    image = _check_rgb(rgb)
    side = 2 * math.ceil(3 * float(sigma)) + 1
    return cv2.GaussianBlur(
        image,
        (side, side),
        sigmaX=float(sigma),
        sigmaY=float(sigma),
        borderType=cv2.BORDER_REFLECT_101,
    )


def downscale(rgb: np.ndarray, factor: float) -> np.ndarray:
    """Resize by ``factor`` (area interpolation), then back to the original size (bilinear)."""
    image = _check_rgb(rgb)
    h, w = image.shape[:2]
    small = cv2.resize(
        image, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def gaussian_noise(rgb: np.ndarray, sigma: float, seed: int | Sequence[int] = 0) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``sigma`` (0–255 scale), round and clip to uint8."""
    image = _check_rgb(rgb)
    noise = np.random.default_rng(seed).normal(0.0, float(sigma), size=image.shape)
    return np.clip(np.rint(image.astype(np.float64) + noise), 0, 255).astype(np.uint8)


def _identity(rgb: np.ndarray) -> np.ndarray:
    return _check_rgb(rgb).copy()


# kind -> (function, parameter name, parameter type, check, valid values, example)
KINDS: dict[str, tuple[Callable, str, type, Callable[[float], bool], str, str]] = {
    "jpeg": (
        jpeg,
        "quality",
        int,
        lambda v: 1 <= v <= 100,
        "an integer quality in 1..100",
        "jpeg:75",
    ),
    "blur": (
        gaussian_blur,
        "sigma",
        float,
        lambda v: 0 < v <= 50,
        "a sigma in (0, 50] pixels",
        "blur:1",
    ),
    "downscale": (
        downscale,
        "factor",
        float,
        lambda v: 0 < v < 1,
        "a factor in (0, 1)",
        "downscale:0.5",
    ),
    "noise": (
        gaussian_noise,
        "sigma",
        float,
        lambda v: 0 < v <= 255,
        "a sigma in (0, 255]",
        "noise:5",
    ),
}


@dataclass(frozen=True)
class Perturbation:
    """One named perturbation, called as ``p(rgb, seed)``; picklable for loader workers."""

    kind: str  # "clean" or a key of KINDS
    value: float | None = None

    @property
    def name(self) -> str:
        """The text form, e.g. ``jpeg:75`` (``parse_perturbation(p.name) == p``)."""
        if self.kind == "clean":
            return "clean"
        assert self.value is not None  # every kind but clean has one (parse_perturbation)
        value = float(self.value)
        return f"{self.kind}:{int(value) if value.is_integer() else value}"

    @property
    def label(self) -> str:
        """A human-readable label, e.g. ``JPEG q=75`` (used in tables and plots)."""
        if self.kind == "clean":
            return "clean"
        value = self.name.split(":", 1)[1]
        return {
            "jpeg": f"JPEG q={value}",
            "blur": f"blur σ={value}",
            "downscale": f"downscale ×{value}",
            "noise": f"noise σ={value}",
        }[self.kind]

    def __call__(self, rgb: np.ndarray, seed: int | Sequence[int] = 0) -> np.ndarray:
        if self.kind == "clean":
            return _identity(rgb)
        function = KINDS[self.kind][0]
        assert self.value is not None  # every kind but clean has one (parse_perturbation)
        if self.kind == "noise":
            return function(rgb, self.value, seed)
        value = int(self.value) if KINDS[self.kind][2] is int else float(self.value)
        return function(rgb, value)


def parse_perturbation(text: str) -> Perturbation:
    """``"jpeg:75"`` -> ``Perturbation("jpeg", 75)``; ``"clean"`` -> ``Perturbation("clean")``."""
    text = str(text).strip()
    if text == "clean":
        return Perturbation("clean")
    kind, sep, raw = text.partition(":")
    kinds = ["clean", *KINDS]
    if kind not in KINDS:
        raise ConfigError(
            f"unknown perturbation {text!r}.{did_you_mean(kind, kinds)} Use one of "
            f"clean, jpeg:Q, blur:SIGMA, downscale:FACTOR, noise:SIGMA (e.g. jpeg:75)"
        )
    _, parameter, kind_type, check, valid, example = KINDS[kind]
    try:
        value = float(raw) if sep else None
    except ValueError:
        value = None
    if (
        value is None
        or not math.isfinite(value)
        or not check(value)
        or (kind_type is int and not value.is_integer())
    ):
        raise ConfigError(
            f"perturbation {text!r}: {kind} needs {parameter} as {valid}, e.g. {example}"
        )
    return Perturbation(kind, int(value) if kind_type is int else value)


def parse_perturbations(items: Sequence[str] | str | None) -> list[Perturbation]:
    """Perturbations from texts (or one comma-separated text); ``None``: the defaults."""
    if items is None:
        items = DEFAULT_PERTURBATIONS
    if isinstance(items, str):
        items = [items]
    texts = [part for item in items for part in str(item).split(",") if part.strip()]
    result = [parse_perturbation(text) for text in texts]
    names = [p.name for p in result]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"perturbation(s) {', '.join(duplicates)} given twice; list each once")
    if not result:
        raise ConfigError("no perturbations given; pass e.g. --perturbations clean,jpeg:75")
    return result
