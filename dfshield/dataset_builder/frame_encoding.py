"""Frames as stored bytes: PNG encoding, and the optional ``--reencode`` of every image alike."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from dfshield.errors import ConfigError, DataError
from dfshield.media.frames import jpeg_round_trip


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an RGB uint8 image, written by OpenCV (stored as BGR like DeepfakeBench)."""
    image = np.asarray(rgb)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise DataError(f"Expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}.")
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV only fails on invalid input
        raise DataError(f"OpenCV could not encode an image of shape {image.shape} as PNG.")
    return buffer.tobytes()


@dataclass(frozen=True)
class Reencoder:
    """Re-encode images through ``jpeg`` at ``quality`` and decode, for both classes alike, so a
    format difference between sources (real PNG vs fake JPEG) stops being a shortcut."""

    format: str = "jpeg"
    quality: int = 90

    def __str__(self) -> str:
        return f"{self.format}:{self.quality}"

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return jpeg_round_trip(rgb, self.quality)


def parse_reencode(spec: str | None) -> Reencoder | None:
    """``"jpeg:Q"`` (Q in 1..100) → :class:`Reencoder`; ``None``/``""``/``"none"`` → ``None``."""
    if spec is None or str(spec).strip().lower() in ("", "none", "off", "no"):
        return None
    text = str(spec).strip().lower()
    fmt, _, quality = text.partition(":")
    if fmt in ("jpg", "jpeg") and quality.isdigit() and 1 <= int(quality) <= 100:
        return Reencoder("jpeg", int(quality))
    raise ConfigError(
        f"Cannot read re-encoding {spec!r}: write jpeg:Q with a quality Q from 1 to 100, e.g. "
        "--reencode jpeg:90, or leave it out to store the images as decoded."
    )
