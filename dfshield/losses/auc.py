"""Pairwise AUC surrogates over all (fake, real) pairs of a batch (docs/methods.md §7.5–§7.7).

Each loss builds the B_fake × B_real matrix of score differences d = h_fake − h_real (or
p_fake − p_real on probabilities) and averages a penalty on it, so fakes are pushed to rank
above reals, the same direction as BCE with fake = 1. A batch with only one class has no pairs:
the loss is 0 (never NaN) and stays attached to the graph, so ``backward()`` works. These are
batch statistics, so there is no ``reduction`` option.
"""

from __future__ import annotations

import torch
from torch import nn

from dfshield import validation
from dfshield.losses import _checks
from dfshield.registry import LOSS


def pairwise_differences(
    owner: str, logits: torch.Tensor, labels: torch.Tensor, probabilities: bool = False
) -> torch.Tensor | None:
    """The [B_fake, B_real] matrix of score_fake − score_real; ``None`` when a class is absent."""
    logits, labels = _checks.inputs(owner, logits, labels)
    scores = torch.sigmoid(logits) if probabilities else logits
    scores, is_fake = scores.flatten(), labels.flatten() == 1
    fake, real = scores[is_fake], scores[~is_fake]
    if fake.numel() == 0 or real.numel() == 0:
        return None
    return fake[:, None] - real[None, :]


def _no_pairs(logits: torch.Tensor) -> torch.Tensor:
    """A zero that keeps the graph (so backward() gives zero gradients instead of failing)."""
    return logits.sum() * 0.0


@LOSS.register_module(module_name="auc_logistic")
class AUCLogisticLoss(nn.Module):
    """Logistic AUC surrogate: mean over (fake, real) pairs of log(1 + exp(−(h_fake − h_real))).

    docs/methods.md §7.5: the AUC loss of the SP Cup 2025 paper (§1), also its Baseline 2 (§3).
    """

    def __init__(self):
        """No options (an explicit signature, so the registry rejects unknown keys)."""
        super().__init__()

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        diff = pairwise_differences("loss 'auc_logistic'", logits, labels)
        if diff is None:
            return _no_pairs(logits)
        return _checks.softplus(-diff).mean()


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
        diff = pairwise_differences("loss 'auc_sqhinge'", logits, labels)
        if diff is None:
            return _no_pairs(logits)
        return torch.relu(self.eta - diff).square().mean()

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
        diff = pairwise_differences("loss 'auc_wmw'", logits, labels, probabilities=True)
        if diff is None:
            return _no_pairs(logits)
        return torch.relu(self.gamma - diff).pow(self.p_exp).mean()

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, p_exp={self.p_exp}"
