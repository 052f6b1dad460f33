"""What every backbone provides, and the precision a frozen one encodes in.

Frozen precision (options ``precision``, ``strict_fp32``), on a GPU: ``bf16``/``fp16`` run a copy
of the encoder with weights of that dtype (autocast would recast fp32 weights at every layer,
~1.5x slower on ViT-L/14); ``fp32`` uses TF32 matmuls (~4x faster on an H100, ~1e-3 relative
error) unless ``strict_fp32``; ``auto`` is bf16 where supported, else fp16. The CPU always runs
fp32 (reduced precision is slower there). The precision that ran is in the fingerprint, so banks
of different precisions never mix; features are float32 either way.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

from dfshield.validation import boolean, choice


class Backbone(nn.Module, abc.ABC):
    """Interface of a registered backbone: images ``(B, 3, H, W)`` → features ``(B, feature_dim)``.
    Subclasses set ``feature_dim``, ``trainable`` (False: frozen, encoded once into the bank),
    ``image_size``, ``mean``/``std`` (per RGB channel); frozen ones ``precision``, ``strict_fp32``.
    """

    feature_dim: int
    trainable: bool
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    #: what a frozen backbone encodes in (see the module docstring); subclasses set both
    precision: str = "fp32"
    strict_fp32: bool = False

    def __init__(self) -> None:
        super().__init__()
        self._casts: dict[tuple[torch.device, torch.dtype], nn.Module] = {}
        self.register_load_state_dict_post_hook(_forget_casts)

    @abc.abstractmethod
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features ``(B, feature_dim)`` of preprocessed images ``(B, 3, H, W)``."""

    @abc.abstractmethod
    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """The backbone's own preprocessing of one HxWx3 uint8 RGB image to ``(3, H, W)``;
        a :class:`~dfshield.data.pixels.FramePreprocess` lets the loader resize in its workers and
        normalise on the device."""

    @abc.abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """Everything that determines the features: identifies a feature bank on disk."""

    # -- frozen encoding -------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """Where the weights are (the CPU for a backbone without any)."""
        return next(self.parameters(), torch.empty(0)).device

    def compute_precision(self) -> str:
        """What this frozen backbone encodes in where its weights are now (fingerprinted)."""
        return frozen_precision(self.precision, self.device, self.strict_fp32)

    @torch.no_grad()
    def encode_frozen(self, module: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """``module(images)`` as float32, computed in :meth:`compute_precision` (bf16/fp16
        through a cast copy of ``module``, made once per device), with any outer autocast off."""
        compute = self.compute_precision()
        dtype = COMPUTE_DTYPES[compute]
        if dtype != torch.float32:
            key = (images.device, dtype)
            if key not in self._casts:
                self._casts[key] = copy.deepcopy(module).to(dtype)
            module = self._casts[key]
        with torch.autocast(images.device.type, enabled=False), matmul_precision(compute):
            return module(images.to(dtype)).float()

    def _apply(self, fn, *args, **kwargs):
        self._casts.clear()  # moved or converted: casts of the old weights are stale
        return super()._apply(fn, *args, **kwargs)


def _forget_casts(module: Backbone, incompatible_keys) -> None:
    """New weights were loaded: the reduced-precision copies of the old ones are stale."""
    module._casts.clear()


#: the ``precision`` values of a frozen backbone
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
#: dtype of the weights and inputs for each computed precision (tf32: fp32 tensors)
COMPUTE_DTYPES = {
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "tf32": torch.float32,
    "fp32": torch.float32,
}


def frozen_precision(precision: str, device: torch.device, strict_fp32: bool = False) -> str:
    """What a frozen encoder computes in on ``device``: ``bf16``, ``fp16``, ``tf32`` (fp32
    tensors, TF32 matmuls) or ``fp32``, by the module docstring's rule."""
    if device.type != "cuda":
        return "fp32"
    if precision == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp32":
        return "fp32" if strict_fp32 else "tf32"
    return precision


def check_precision(owner: str, precision: Any, strict_fp32: Any) -> tuple[str, bool]:
    """The ``precision`` and ``strict_fp32`` options of a frozen backbone, checked."""
    return choice(owner, "precision", precision, PRECISIONS), boolean(
        owner, "strict_fp32", strict_fp32
    )


@contextmanager
def matmul_precision(compute: str) -> Iterator[None]:
    """TF32 (``tf32``) or full IEEE (``fp32``) fp32 matmuls and cuDNN convolutions, restored
    afterwards, so that training keeps the global setting; no-op for bf16/fp16."""
    if compute not in ("tf32", "fp32"):
        yield
        return
    tf32 = compute == "tf32"
    previous = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous[0])
        torch.backends.cudnn.allow_tf32 = previous[1]


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` (auto/bf16/fp16/fp32|none) on ``device``; None = off."""
    if device.type != "cuda" or precision in ("fp32", "none"):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
