"""The losses of G runs evaluated in one call on ``(G, B)`` logits (batched runs, methods.md §8.1).

:func:`stacked_loss` returns ``loss(logits, labels, weights) -> (G,)``: run g's loss on its rows
of weight 1 (padding weighs 0), equal to its own module's loss up to rounding. Options that
differ per run (VS's ζ, Δ, ω, CVaR's α, composite weights) become ``(G, 1)`` columns. bce,
focal, vs, cvar (both solvers, by sorting), the AUC losses and composites of these are
vectorised; anything else falls back to a loop over the runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dfshield.losses import _checks
from dfshield.losses.auc import AUCLogisticLoss, AUCSquaredHingeLoss, AUCWMWLoss
from dfshield.losses.bce import BCELoss
from dfshield.losses.composite import CompositeLoss
from dfshield.losses.cvar import CVaRLoss
from dfshield.losses.focal import FocalLoss
from dfshield.losses.vs import VSLoss

#: (logits, labels, weights, counts) → per-sample (G, B) or per-run (G,) values
_Term = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
StackedLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def stacked_loss(modules: Sequence[nn.Module]) -> StackedLoss:
    """``loss(logits, labels, weights) -> (G,)`` for the G runs' loss modules (module doc)."""
    term = _scalar(list(modules))
    if term is None:
        return _looped(list(modules))

    def loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        labels = labels.to(logits.dtype)
        weights = weights.to(logits.dtype)
        counts = weights.sum(1, keepdim=True).clamp_min(1.0)
        return term(logits, labels, weights, counts)

    return loss


def vectorised(modules: Sequence[nn.Module]) -> bool:
    """Whether :func:`stacked_loss` evaluates ``modules`` in one call (not a loop over runs)."""
    return _scalar(list(modules)) is not None


def _looped(modules: list[nn.Module]) -> StackedLoss:
    def loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        sizes = weights.sum(1).long().tolist()  # a host read: the fallback is not sync-free
        values = [
            module(logits[g, :n], labels[g, :n]) if n else logits[g].sum() * 0.0
            for g, (module, n) in enumerate(zip(modules, sizes))
        ]
        return torch.stack(values)

    return loss


def _same(modules: list[nn.Module], *names: str) -> bool:
    first = modules[0]
    return all(
        type(m) is type(first) and all(getattr(m, k) == getattr(first, k) for k in names)
        for m in modules
    )


def _column(values: list[float], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device)[:, None]


def _per_sample(modules: list[nn.Module]) -> _Term | None:
    """(G, B) per-sample losses of per-sample losses (bce, focal, vs), or None."""
    first = modules[0]
    if isinstance(first, BCELoss) and _same(modules):
        return lambda h, y, w, n: F.binary_cross_entropy_with_logits(h, y, reduction="none")
    if isinstance(first, FocalLoss) and _same(modules, "gamma", "alpha"):

        def focal(h, y, w, n):
            margin = (2.0 * y - 1.0) * h
            losses = _checks.softplus(-margin)
            if first.gamma != 0.0:
                losses = torch.exp(first.gamma * F.logsigmoid(-margin)) * losses
            if first.alpha is not None:
                losses = _checks.by_class(y, first.alpha, 1.0 - first.alpha) * losses
            return losses

        return focal
    if isinstance(first, VSLoss) and _same(modules):
        table = {
            key: [(getattr(m, key)["fake"], getattr(m, key)["real"]) for m in modules]
            for key in ("zeta", "delta", "weights")
        }

        def vs(h, y, w, n):
            def by_class(key: str) -> torch.Tensor:
                fake, real = (_column([pair[i] for pair in table[key]], h) for i in (0, 1))
                return torch.where(y == 1, fake, real)

            sign = 2.0 * y - 1.0
            losses = _checks.softplus(by_class("delta") - by_class("zeta") * sign * h)
            return by_class("weights") * losses

        return vs
    return None


def _scalar(modules: list[nn.Module]) -> _Term | None:
    """(G,) per-run values of a scalar loss, or None when it cannot be vectorised."""
    first = modules[0]
    if not all(type(m) is type(first) for m in modules):
        return None
    if getattr(first, "reduction", None) == "mean":
        samples = _per_sample(modules)
        if samples is None:
            return None
        return lambda h, y, w, n: (samples(h, y, w, n) * w).sum(1) / n[:, 0]
    # every module is of first's type (checked above): the isinstance filters below keep them all
    if isinstance(first, CVaRLoss):
        return _cvar([m for m in modules if isinstance(m, CVaRLoss)])
    if isinstance(first, (AUCLogisticLoss, AUCSquaredHingeLoss, AUCWMWLoss)):
        return _auc(modules)
    if isinstance(first, CompositeLoss):
        composites = [m for m in modules if isinstance(m, CompositeLoss)]
        if not all(m.keys == first.keys for m in composites):
            return None
        scalars = [_scalar([m.terms[t] for m in composites]) for t in range(len(first.keys))]
        terms = [term for term in scalars if term is not None]
        if len(terms) < len(scalars):
            return None
        factors = [[m.weights[t] for m in composites] for t in range(len(terms))]

        def composite(h, y, w, n):
            total = None
            for term, factor in zip(terms, factors):
                value = _column(factor, h)[:, 0] * term(h, y, w, n)
                total = value if total is None else total + value
            return total

        return composite
    return None


def _cvar(modules: list[CVaRLoss]) -> _Term | None:
    """CVaR_α per run: losses sorted (padding last), the i-th weighted clamp(k − i, 0, 1) / k."""
    samples = _per_sample([m.base for m in modules])
    if samples is None:
        return None
    alphas = [m.alpha for m in modules]

    def cvar(h, y, w, n):
        losses = samples(h, y, w, n)
        keys = losses.detach().masked_fill(w == 0, -torch.inf)
        order = keys.argsort(dim=1, descending=True)
        k = _column(alphas, h) * n
        rank = torch.arange(h.shape[1], dtype=h.dtype, device=h.device)
        share = (k - rank).clamp(0.0, 1.0) * w.gather(1, order)  # 0 on padding (an empty run)
        return (losses.gather(1, order) * share).sum(1) / k[:, 0]

    return cvar


def _auc(modules: list[nn.Module]) -> _Term | None:
    """The mean penalty over each run's (fake, real) pairs of weighted rows (0 without pairs)."""
    first = modules[0]
    probabilities = False
    if isinstance(first, AUCLogisticLoss) and _same(modules):

        def penalty(d):
            return _checks.softplus(-d)
    elif isinstance(first, AUCSquaredHingeLoss) and _same(modules, "eta"):

        def penalty(d):
            return torch.relu(first.eta - d).square()
    elif isinstance(first, AUCWMWLoss) and _same(modules, "gamma", "p_exp"):
        probabilities = True

        def penalty(d):
            return torch.relu(first.gamma - d).pow(first.p_exp)
    else:
        return None

    def auc(h, y, w, n):
        scores = torch.sigmoid(h) if probabilities else h
        pairs = (y * w)[:, :, None] * ((1.0 - y) * w)[:, None, :]
        diff = scores[:, :, None] - scores[:, None, :]
        return (pairs * penalty(diff)).sum((1, 2)) / pairs.sum((1, 2)).clamp_min(1.0)

    return auc
