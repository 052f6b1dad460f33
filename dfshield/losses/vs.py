"""Binary vector-scaling (VS) loss of the SP Cup 2025 paper (docs/methods.md §7.3, §1)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dfshield._suggest import did_you_mean
from dfshield.errors import ConfigError
from dfshield.losses import _checks
from dfshield.registry import LOSS

PAPER_ZETA = {"fake": 1.2, "real": 0.8}
PAPER_DELTA = {"fake": 0.05, "real": -0.05}
WEIGHT_MODES = ("balanced", "none")
_OWNER = "loss 'vs'"


@LOSS.register_module(module_name="vs")
class VSLoss(nn.Module):
    """Vector-scaling loss ω_y·softplus(Δ_y − ζ_y·s·h), per-class ζ, Δ, ω (docs/methods.md §7.3).

    With ζ = 1, Δ = 0, ω = 1 it is BCE. Unlike the authors' code, it carries the gradient.
    """

    def __init__(
        self,
        zeta: dict | None = None,
        delta: dict | None = None,
        weights: Any = "balanced",
        class_counts: dict | None = None,
        reduction: str = "mean",
    ):
        """``zeta`` (ζ > 0) and ``delta`` (Δ) are per class, ``{fake: x, real: y}``; defaults are
        the paper's. ``weights`` (ω): ``balanced`` (ω_y = n / (2·n_y)), ``none`` or
        ``{fake: w, real: w}``; ``reduction``: ``mean`` or ``none``.
        ``balanced`` needs ``class_counts``, passed by the trainer from the training split."""
        super().__init__()
        self.zeta = _checks.per_class(
            _OWNER, "zeta", PAPER_ZETA if zeta is None else zeta, low=0.0, low_open=True
        )
        self.delta = _checks.per_class(_OWNER, "delta", PAPER_DELTA if delta is None else delta)
        self.weights = _weights(weights, class_counts)
        self.reduction = _checks.reduction(_OWNER, reduction)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits, labels = _checks.inputs(_OWNER, logits, labels)
        zeta = _checks.by_class(labels, self.zeta["fake"], self.zeta["real"])
        delta = _checks.by_class(labels, self.delta["fake"], self.delta["real"])
        sign = 2.0 * labels - 1.0
        losses = _checks.softplus(delta - zeta * sign * logits)
        if self.weights != {"fake": 1.0, "real": 1.0}:
            losses = _checks.by_class(labels, self.weights["fake"], self.weights["real"]) * losses
        return _checks.reduce(losses, self.reduction)

    def extra_repr(self) -> str:
        return f"zeta={self.zeta}, delta={self.delta}, weights={self.weights}"


def _weights(weights: Any, class_counts: Any) -> dict[str, float]:
    """Per-class weights ω from the ``weights`` option (and the class counts for balanced)."""
    counts = None if class_counts is None else _checks.class_counts(_OWNER, class_counts)
    if weights is None or isinstance(weights, str):
        if weights is not None and weights not in WEIGHT_MODES:
            raise ConfigError(
                f"loss 'vs': 'weights' must be balanced, none or a mapping "
                f"{{fake: w, real: w}}; got {weights!r}."
                f"{did_you_mean(weights, WEIGHT_MODES)}"
            )
        if weights in (None, "none"):
            return {"fake": 1.0, "real": 1.0}
        if counts is None:
            raise ConfigError(
                "loss 'vs': weights: balanced needs the training-set class counts, which the "
                "trainer passes at build time (build_loss(cfg, class_counts={'real': n_real, "
                "'fake': n_fake})); outside the trainer pass them so, or set weights: none or "
                "weights: {fake: w, real: w}"
            )
        empty = [name for name in _checks.CLASSES if counts[name] == 0]
        if empty:
            raise ConfigError(
                f"loss 'vs': weights: balanced is undefined because class_counts "
                f"has no '{empty[0]}' samples ({counts}); use weights: none or "
                f"explicit weights {{fake: w, real: w}}"
            )
        total = counts["fake"] + counts["real"]
        return {name: total / (2.0 * counts[name]) for name in _checks.CLASSES}
    return _checks.per_class(_OWNER, "weights", weights, low=0.0)
