"""Losses; importing this package registers every built-in loss in ``dfshield.registry.LOSS``.

Every loss takes ``(logits, labels)``: the fake logit ``(B,)`` (or DeepfakeBench's ``(B, 2)``,
read through :func:`fake_logit`) and labels fake = 1, real = 0. Equations: docs/methods.md §7.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from dfshield.losses import auc, bce, composite, cvar, focal, vs  # noqa: F401  (registers)
from dfshield.losses._checks import deferred_value_checks, fake_logit
from dfshield.registry import LOSS

__all__ = ["BUILD_TIME", "build_loss", "deferred_value_checks", "fake_logit"]

#: What ``build_loss`` passes itself, so not a loss option (name → its origin); the config checks
#: read it too (``dfshield.config.BUILD_TIME``).
BUILD_TIME = {"class_counts": "computed from the training data"}


def build_loss(cfg: dict | str, class_counts: dict | None = None) -> nn.Module:
    """Build the loss named by ``cfg["name"]`` (or a bare name string). ``class_counts``
    (training-set ``{real: n, fake: n}``) reaches every loss that accepts it; config counts win."""
    if isinstance(cfg, str):
        cfg = {"name": cfg}
    context: dict[str, Any] = {} if class_counts is None else {"class_counts": class_counts}
    return LOSS.build(cfg, **context)
