"""Binary cross-entropy on logits (fake = 1, real = 0)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dfshield.losses import _checks
from dfshield.registry import LOSS


@LOSS.register_module(module_name="bce")
class BCELoss(nn.Module):
    """Binary cross-entropy on the fake logit: -[y log σ(h) + (1-y) log(1-σ(h))]; ``reduction``:
    ``mean`` or ``none`` (one loss per sample)."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = _checks.reduction("loss 'bce'", reduction)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits, labels = _checks.inputs("loss 'bce'", logits, labels)
        return F.binary_cross_entropy_with_logits(logits, labels, reduction=self.reduction)
