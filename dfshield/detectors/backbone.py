"""What every backbone provides, and where the frozen ones get their random-init seed.

A backbone maps a batch of preprocessed images ``(B, 3, H, W)`` to features ``(B, feature_dim)``.
A **frozen** backbone (``trainable = False``) is run once per image into the feature bank
(``dfshield.engine.feature_bank``) and never again; a trainable one is part of the detector and
sees images every step.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import torch
from torch import nn


class Backbone(nn.Module, abc.ABC):
    """Interface of a registered backbone (abstract: register concrete subclasses).

    Attributes:
        feature_dim: size of the feature vector.
        trainable: False for a frozen feature extractor (features go through the bank).
        image_size: side of the square input image.
        mean, std: normalisation of the input, per RGB channel.
    """

    feature_dim: int
    trainable: bool
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @abc.abstractmethod
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features ``(B, feature_dim)`` of preprocessed images ``(B, 3, H, W)``."""

    @abc.abstractmethod
    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """The backbone's own preprocessing of one HxWx3 uint8 RGB image to ``(3, H, W)``."""

    @abc.abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """Everything that determines the features: identifies a feature bank on disk."""


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` (auto/bf16/fp16/fp32|none) on ``device``; None = off."""
    if device.type != "cuda" or precision in ("fp32", "none"):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
