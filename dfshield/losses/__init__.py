"""Losses; importing this package registers every built-in loss in ``dfshield.registry.LOSS``.

All losses take ``(logits, labels)`` with logits of the fake class ``(B,)`` (or DeepfakeBench's two
logits ``(B, 2)``, read through :func:`fake_logit`) and labels fake = 1, real = 0 (bool, integer
or float). Build them from a config with :func:`build_loss`. No loss reads a device value on the
host except to check its inputs' values, which a training step defers with
:func:`deferred_value_checks`.

Equations and constants: ``docs/methods.md`` §7 (one subsection per loss).

| name | what | docs/methods.md |
| --- | --- | --- |
| ``bce`` | binary cross-entropy | §7.1 |
| ``focal`` | focal loss (γ, optional α; Lin et al. 2017) | §7.2 |
| ``vs`` | binary vector-scaling loss, per-class ζ, Δ, ω | §7.3 |
| ``cvar`` | CVaR_α of a per-sample base loss (exact or bisect) | §7.4 |
| ``auc_logistic`` / ``auc_sqhinge`` / ``auc_wmw`` | pairwise AUC surrogates | §7.5 / §7.6 / §7.7 |
| ``composite`` | weighted sum of terms | §7.8 |
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
    """Build the loss named by ``cfg["name"]`` (a bare name string is accepted too).

    ``class_counts`` (``{"real": n_real, "fake": n_fake}``, training-set counts) reaches every
    loss that accepts it (``vs`` with ``weights: balanced``, and ``cvar`` / ``composite``, which
    forward it to their parts); counts given in the config itself take precedence.
    """
    if isinstance(cfg, str):
        cfg = {"name": cfg}
    context: dict[str, Any] = {} if class_counts is None else {"class_counts": class_counts}
    return LOSS.build(cfg, **context)
