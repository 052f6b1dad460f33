"""CVaR (conditional value-at-risk) of a per-sample loss over the batch (docs/methods.md §7.4)."""

from __future__ import annotations

import math

import torch
from torch import nn

from dfshield import validation
from dfshield.errors import ConfigError
from dfshield.losses import _checks
from dfshield.registry import LOSS, accepted_options

SOLVERS = ("exact", "bisect")
_OWNER = "loss 'cvar'"
BISECT_STEPS = 64  # halvings of the λ bracket, in float64: the bracket shrinks to rounding level


@LOSS.register_module(module_name="cvar")
class CVaRLoss(nn.Module):
    """CVaR_α of a per-sample loss: the mean of the hardest α-fraction of the batch.

    docs/methods.md §7.4 gives the formula, its gradient and how the two ``solver`` choices split
    ties: ``exact`` (``torch.topk``) and ``bisect`` (the paper's binary search on λ). Always a
    scalar.
    """

    def __init__(
        self,
        base: dict | None = None,
        alpha: float = 0.9,
        solver: str = "exact",
        class_counts: dict | None = None,
    ):
        """``base``: a per-sample loss config (default ``{name: bce}``), built with ``reduction:
        none`` and the class counts; ``alpha`` ∈ (0, 1] is the fraction kept (1 = the plain mean).
        """
        super().__init__()
        self.alpha = validation.number(_OWNER, "alpha", alpha, low=0.0, high=1.0, low_open=True)
        self.solver = validation.choice(_OWNER, "solver", solver, SOLVERS)
        base_cfg = _checks.sub_config(_OWNER, "base", {"name": "bce"} if base is None else base)
        try:
            factory = LOSS.get(base_cfg["name"])
        except ConfigError as error:
            raise type(error)(f"loss 'cvar': base: {error}") from error
        if "reduction" not in accepted_options(factory)[0]:
            raise ConfigError(
                f"loss 'cvar': base loss '{base_cfg['name']}' is not per-sample (it "
                f"has no 'reduction' option); use a per-sample loss such as bce, "
                f"focal or vs"
            )
        if base_cfg.get("reduction", "none") != "none":
            raise ConfigError(
                f"loss 'cvar': base.reduction must be none (CVaR needs one loss per "
                f"sample); got {base_cfg['reduction']!r}. Drop the key"
            )
        base_cfg["reduction"] = "none"
        try:
            self.base = LOSS.build(base_cfg, class_counts=class_counts)
        except ConfigError as error:
            raise type(error)(f"loss 'cvar': base: {error}") from error

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        losses = self.base(logits, labels)
        if losses.shape != logits.shape:
            raise ValueError(
                f"loss 'cvar': the base loss returned shape {tuple(losses.shape)}, "
                f"expected one loss per sample {tuple(logits.shape)}"
            )
        losses = losses.flatten()
        if self.solver == "exact":
            return cvar_exact(losses, self.alpha)
        return cvar_bisect(losses, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, solver={self.solver!r}"


def cvar_exact(losses: torch.Tensor, alpha: float) -> torch.Tensor:
    """CVaR_α of a 1-D loss vector by sorting: (top ⌊k⌋ sum + (k − ⌊k⌋)·next) / k, k = α·m."""
    m = losses.numel()
    k = alpha * m  # alpha <= 1, so k <= m exactly in floating point
    whole = min(int(math.floor(k)), m)
    fraction = k - whole
    n_top = whole + 1 if fraction > 0 and whole < m else whole
    top = torch.topk(losses, n_top, sorted=True).values
    total = top[:whole].sum()
    if n_top > whole:
        total = total + fraction * top[whole]
    return total / k


def cvar_bisect(losses: torch.Tensor, alpha: float, steps: int = BISECT_STEPS) -> torch.Tensor:
    """CVaR_α by the paper's binary search on λ, λ* snapped to the loss it isolates (§7.4). The
    invariant #{ℓ_i > lo} > k ≥ #{ℓ_i > hi} keeps ℓ_(⌊k⌋+1) in (lo, hi]; the losses tied at λ* share
    its weight equally. Runs on the device without host syncs."""
    m = losses.numel()
    k = alpha * m
    values = losses.detach().to(torch.float64)
    lo = values.min() - (1.0 + values.abs().max())  # strictly below every loss
    hi = values.max()
    for _ in range(steps):
        mid = (lo + hi) / 2
        go_up = (values > mid).sum() > k
        lo = torch.where(go_up, mid, lo)
        hi = torch.where(go_up, hi, mid)
    lam = torch.where(values > lo, values, torch.inf).min()
    above, tied = values > lam, values == lam
    tied_mean = torch.where(tied, losses, 0).sum() / tied.sum()
    weight = (1 - above.sum().to(torch.float64) / k).to(losses.dtype)
    return torch.where(above, losses, 0).sum() / k + weight * tied_mean
