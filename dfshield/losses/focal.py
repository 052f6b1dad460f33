"""Binary focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dfshield import validation
from dfshield.losses import _checks
from dfshield.registry import LOSS

_OWNER = "loss 'focal'"


@LOSS.register_module(module_name="focal")
class FocalLoss(nn.Module):
    """Binary focal loss -α_t (1-p_t)^γ log p_t (Lin et al. 2017); γ = 0 without α is BCE."""

    def __init__(self, gamma: float = 2.0, alpha: float | None = None, reduction: str = "mean"):
        """``gamma`` is γ ≥ 0; ``alpha`` weighs fakes and 1 − alpha reals (``None``: no weight);
        ``reduction``: ``mean`` or ``none``. Computed in log space (docs/methods.md §7.2)."""
        super().__init__()
        self.gamma = validation.number(_OWNER, "gamma", gamma, low=0.0)
        self.alpha = (
            None if alpha is None else validation.number(_OWNER, "alpha", alpha, low=0.0, high=1.0)
        )
        self.reduction = _checks.reduction(_OWNER, reduction)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits, labels = _checks.inputs(_OWNER, logits, labels)
        margin = (2.0 * labels - 1.0) * logits  # s·h
        losses = _checks.softplus(-margin)
        if self.gamma != 0.0:
            losses = torch.exp(self.gamma * F.logsigmoid(-margin)) * losses
        if self.alpha is not None:
            losses = _checks.by_class(labels, self.alpha, 1.0 - self.alpha) * losses
        return _checks.reduce(losses, self.reduction)
