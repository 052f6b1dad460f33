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

    CVaR_α(ℓ) = min_λ { λ + 1/(α·m) · Σ_i [ℓ_i − λ]_+ } over the m per-sample losses ℓ of the
    batch (docs/methods.md §7.4; Rockafellar & Uryasev; used with VS in the SP Cup 2025 paper, §1,
    and with BCE in Lin et al.'s robust CLIP detector, §3). The objective is convex and piecewise
    linear in λ, so a minimiser is a data point: with k = α·m and ℓ_(1) ≥ ℓ_(2) ≥ … sorted,
    f = ⌊k⌋, the minimiser is ℓ_(f+1) (when k is fractional) and

        CVaR_α = ( ℓ_(1) + … + ℓ_(f) + (k − f) · ℓ_(f+1) ) / k,

    i.e. the mean of the top ⌈k⌉ losses with the boundary sample weighted by its fractional part
    (for integer k, the plain mean of the top k). α = 1 gives the batch mean. The gradient is
    1/k on the top f samples, (k − f)/k on the boundary sample and 0 elsewhere.

    Solvers: ``exact`` (default) evaluates the formula with ``torch.topk``, O(m log m).
    ``bisect`` reproduces the paper's binary search for λ (on the detached losses, in float64,
    by the sign of the objective's slope 1 − #{ℓ_i > λ}/k), then takes λ* as the data point
    that the search isolates. No gradient flows through the search, only through ℓ: each loss
    above λ* gets 1/k and the samples tied at λ* share the rest, 1 − #{ℓ > λ*}/k, equally, so
    no sample gets more than 1/k and the weights sum to one. Without ties this is ``exact``'s
    gradient; with ties at the boundary ``exact`` (``topk``) gives the share to the tied samples
    it happens to pick, ``bisect`` the centre of the subdifferential (docs/methods.md §7.4). The
    value is the same.

    ``reduction`` does not apply: CVaR is a statistic of the whole batch and always a scalar.
    """

    def __init__(
        self,
        base: dict | None = None,
        alpha: float = 0.9,
        solver: str = "exact",
        class_counts: dict | None = None,
    ):
        """Args:
        base: the per-sample loss, e.g. ``{name: vs}``; built through the registry with
            ``reduction: none`` and the class counts forwarded. Default ``{name: bce}``.
        alpha: fraction of the hardest samples kept, in (0, 1]; 1 = the plain mean.
        solver: ``exact`` (sort / top-k) or ``bisect`` (the paper's binary search on λ).
        class_counts: training class counts ``{real: n, fake: n}`` passed on to ``base``.
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
    """CVaR_α by the paper's binary search on λ; λ* snapped to the data point it isolates.

    Invariant: #{ℓ_i > lo} > k ≥ #{ℓ_i > hi}, so the minimiser ℓ_(⌊k⌋+1) lies in (lo, hi].
    The value λ*·(1 − g/k) + Σ_{ℓ > λ*} ℓ / k (g = #{ℓ > λ*}) takes λ* as the mean of the
    losses tied at it, so they share its weight equally. The loop runs on the device without
    host syncs.
    """
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
