"""Pairwise AUC surrogates over all (fake, real) pairs of a batch (docs/methods.md §7.5–§7.7).

Batch statistics, so no ``reduction``; a batch with one class has no pairs and gives 0.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from dfshield import validation
from dfshield.losses import _checks
from dfshield.registry import LOSS


def pair_mean(
    owner: str,
    logits: torch.Tensor,
    labels: torch.Tensor,
    penalty: Callable[[torch.Tensor], torch.Tensor],
    probabilities: bool = False,
) -> torch.Tensor:
    """Mean of ``penalty(score_fake − score_real)`` over every (fake, real) pair of the batch. A 0/1
    pair weight over the B × B matrix instead of ``x[mask]`` keeps the shape fixed, so there is no
    host sync (and a CUDA graph can capture it). No pairs: 0, still attached to the graph."""
    logits, labels = _checks.inputs(owner, logits, labels)
    scores = (torch.sigmoid(logits) if probabilities else logits).flatten()
    fake = labels.flatten()
    pairs = fake[:, None] * (1.0 - fake)[None, :]  # 1 where row i is a fake and column j a real
    diff = scores[:, None] - scores[None, :]
    return (pairs * penalty(diff)).sum() / pairs.sum().clamp_min(1.0)


@LOSS.register_module(module_name="auc_logistic")
class AUCLogisticLoss(nn.Module):
    """Logistic AUC surrogate: mean of softplus(h_real − h_fake) over pairs (methods.md §7.5)."""

    def __init__(self):
        """No options (an explicit signature, so the registry rejects unknown keys)."""
        super().__init__()

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return pair_mean("loss 'auc_logistic'", logits, labels, lambda d: _checks.softplus(-d))


@LOSS.register_module(module_name="auc_sqhinge")
class AUCSquaredHingeLoss(nn.Module):
    """Squared-hinge AUC surrogate: mean of [η − (h_fake − h_real)]_+² over pairs, margin η =
    ``eta`` (docs/methods.md §7.6)."""

    def __init__(self, eta: float = 0.6):
        super().__init__()
        self.eta = validation.number("loss 'auc_sqhinge'", "eta", eta, low=0.0)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return pair_mean(
            "loss 'auc_sqhinge'", logits, labels, lambda d: torch.relu(self.eta - d).square()
        )

    def extra_repr(self) -> str:
        return f"eta={self.eta}"


@LOSS.register_module(module_name="auc_wmw")
class AUCWMWLoss(nn.Module):
    """WMW AUC surrogate on probabilities: mean of [γ − (p_fake − p_real)]_+^p over pairs, with the
    margin γ = ``gamma`` and p = ``p_exp``.

    DDLN's term (docs/methods.md §7.7), pairs oriented fake minus real, unlike the authors' code.
    ``p_exp`` must be ≥ 1: below 1 the gradient is infinite at the margin.
    """

    def __init__(self, gamma: float = 0.15, p_exp: float = 2.0):
        super().__init__()
        self.gamma = validation.number("loss 'auc_wmw'", "gamma", gamma, low=0.0, high=1.0)
        self.p_exp = validation.number("loss 'auc_wmw'", "p_exp", p_exp, low=1.0)

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return pair_mean(
            "loss 'auc_wmw'",
            logits,
            labels,
            lambda d: torch.relu(self.gamma - d).pow(self.p_exp),
            probabilities=True,
        )

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, p_exp={self.p_exp}"
