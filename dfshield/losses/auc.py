"""Pairwise AUC surrogates over all (fake, real) pairs of a batch (docs/methods.md §7.5–§7.7).

Each loss averages a penalty on the score differences d = h_fake − h_real (or p_fake − p_real on
probabilities) over all (fake, real) pairs of the batch (:func:`pair_mean`), so fakes are pushed
to rank above reals, the same direction as BCE with fake = 1. A batch with only one class has no
pairs: the loss is 0 (never NaN) and stays attached to the graph, so ``backward()`` works. These
are batch statistics, so there is no ``reduction`` option.
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
    """Mean of ``penalty(score_fake − score_real)`` over every (fake, real) pair of the batch.

    Computed over the whole B × B matrix of differences with a 0/1 pair weight rather than by
    selecting the fakes and the reals (``x[mask]``): selecting gives a shape known only after a
    host read of the device, so the sum of weighted penalties over the weight count is the same
    mean without a sync (and a fixed shape, which a CUDA graph needs). A batch with one class
    has no pairs: 0, still attached to the graph (zero gradients).
    """
    logits, labels = _checks.inputs(owner, logits, labels)
    scores = (torch.sigmoid(logits) if probabilities else logits).flatten()
    fake = labels.flatten()
    pairs = fake[:, None] * (1.0 - fake)[None, :]  # 1 where row i is a fake and column j a real
    diff = scores[:, None] - scores[None, :]
    return (pairs * penalty(diff)).sum() / pairs.sum().clamp_min(1.0)


@LOSS.register_module(module_name="auc_logistic")
class AUCLogisticLoss(nn.Module):
    """Logistic AUC surrogate: mean over (fake, real) pairs of log(1 + exp(−(h_fake − h_real))).

    docs/methods.md §7.5: the AUC loss of the SP Cup 2025 paper (§1), also its Baseline 2 (§3).
    """

    def __init__(self):
        """No options (an explicit signature, so the registry rejects unknown keys)."""
        super().__init__()

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return pair_mean("loss 'auc_logistic'", logits, labels, lambda d: _checks.softplus(-d))


@LOSS.register_module(module_name="auc_sqhinge")
class AUCSquaredHingeLoss(nn.Module):
    """Squared-hinge AUC surrogate: mean over pairs of (η − (h_fake − h_real))² where below η.

    docs/methods.md §7.6: the published loss of Lin et al.'s robust CLIP detector (§3), η = 0.6.
    """

    def __init__(self, eta: float = 0.6):
        """Args: eta: the margin η >= 0 on logit differences."""
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
    """WMW AUC surrogate on probabilities: mean over pairs of (γ − (p_fake − p_real))^p below γ.

    docs/methods.md §7.7: the L_WMW term of DDLN (Pu et al., Pattern Recognition 2022; §4), after
    Yan et al.'s Wilcoxon–Mann–Whitney approximation, with p = sigmoid(logit), γ = 0.15, p = 2.
    Pairs are oriented so that fakes rank above reals (consistently with BCE; the authors' code
    uses the opposite direction): a fake already ahead of a real by more than γ costs nothing.
    """

    def __init__(self, gamma: float = 0.15, p_exp: float = 2.0):
        """Args:
        gamma: margin γ on probability differences, in [0, 1].
        p_exp: exponent p >= 1 (below 1 the gradient is infinite at the margin).
        """
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
