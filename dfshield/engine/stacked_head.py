"""G runs of one MLP head as one model whose weights are stacked on a leading run axis.

The vectorised step of ``train.batched_runs`` (:mod:`dfshield.engine.grouped_runs`): the operators a
step dispatches do not grow with G. Parameters and gradients are views of one ``(G, P)`` buffer; the
forward is batched matmuls and BatchNorm over each run's own rows; the losses, SAM's per-run norm
and Adam(W) with each run's rate are computed over the stack. Padding rows weigh 0 and an inactive
run's step is a no-op (``where(active, new, old)``), so each run takes its separate run's steps
(docs/methods.md §8.1).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dfshield.detectors.base import BaseDetector
from dfshield.losses import deferred_value_checks
from dfshield.losses.stacked import stacked_loss
from dfshield.optimizers.sam import SAM

#: elementwise layers a stacked head applies to the whole stack as they are
_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.Identity)
_ADAM = (torch.optim.Adam, torch.optim.AdamW)


def batched_head(detector) -> nn.Module:
    """The head that ``detector`` declares batchable (named by its ``batched_head`` attribute)."""
    return getattr(detector, detector.batched_head)


def head_problem(heads: Sequence[nn.Module]) -> str | None:
    """Why ``heads`` cannot run as one stacked head (None: they can)."""
    sequentials = [head for head in heads if isinstance(head, nn.Sequential)]
    if not heads or len(sequentials) < len(heads):
        return "the heads are not nn.Sequential MLP heads"
    shapes = {tuple(_layer_key(layer) for layer in head) for head in sequentials}
    if len(shapes) != 1:
        return "the heads differ in architecture"
    for layer in sequentials[0]:
        if isinstance(layer, nn.Linear) and layer.bias is None:
            return "a Linear layer has no bias"
        if isinstance(layer, nn.BatchNorm1d) and (
            layer.momentum is None or not layer.affine or not layer.track_running_stats
        ):
            return "a BatchNorm1d layer is not affine with running statistics and a momentum"
        if not isinstance(layer, (nn.Linear, nn.BatchNorm1d, nn.Dropout, *_ELEMENTWISE)):
            return f"the head holds a {type(layer).__name__} layer"
    return None


def _layer_key(layer: nn.Module) -> tuple:
    shapes = tuple(tuple(p.shape) for p in layer.parameters())
    return (type(layer).__name__, shapes, getattr(layer, "p", None), repr(layer))


def optimizer_problem(optimizer: torch.optim.Optimizer, head: nn.Module) -> str | None:
    """Why runs under ``optimizer`` cannot step stacked (None: they can)."""
    base = getattr(optimizer, "base_optimizer", optimizer)
    if type(base) not in _ADAM:
        return f"the optimizer {type(base).__name__} is not adam or adamw (only those step stacked)"
    if len(base.param_groups) != 1:
        return "the optimizer has more than one param group"
    group = base.param_groups[0]
    if group["amsgrad"] or group.get("maximize"):
        return "amsgrad or maximize is set"
    if {id(p) for p in group["params"]} != {id(p) for p in head.parameters()}:
        return "the optimizer's parameters are not exactly the head's"
    return None


def get_losses_problem(detector) -> str | None:
    """Why ``detector``'s loss cannot be taken from its ``loss_fn`` alone (None: it can)."""
    if type(detector).get_losses is not BaseDetector.get_losses:
        return f"{type(detector).__name__} computes its loss in its own get_losses"
    return None


def stacked_problem(detectors: Sequence[Any], optimizers: Sequence[Any]) -> str | None:
    """Why these runs cannot train as one :class:`StackedRuns` (None: they can)."""
    heads = [batched_head(detector) for detector in detectors]
    problem = head_problem(heads)
    if problem is not None:
        return problem
    problem = next(filter(None, map(get_losses_problem, detectors)), None)
    if problem is not None:
        return problem
    kinds = {(type(o), type(getattr(o, "base_optimizer", o))) for o in optimizers}
    if len(kinds) != 1:
        return "the runs' optimizers differ in type"
    if (
        isinstance(optimizers[0], SAM)
        and len({o.param_groups[0]["adaptive"] for o in optimizers}) != 1
    ):
        return "the runs differ in SAM's adaptive"
    for optimizer, head in zip(optimizers, heads):
        problem = optimizer_problem(optimizer, head)
        if problem is not None:
            return problem
    return None


def stack_batches(
    batches: Sequence[dict | None],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """``(features (G, B, D), labels, weights (G, B), padded)`` of one batch per run (None:
    inactive). Smaller batches are padded with zero-weight rows; ``padded`` says, on the host,
    whether an active run has such rows."""
    present = [b for b in batches if b is not None]
    size = max(len(b["label"]) for b in present)
    like = present[0]["feature"]
    features, labels, sizes = [], [], []
    for batch in batches:
        n = 0 if batch is None else len(batch["label"])
        if batch is None:
            features.append(like.new_zeros(size, like.shape[1]))
            labels.append(present[0]["label"].new_zeros(size))
        else:
            features.append(
                F.pad(batch["feature"], (0, 0, 0, size - n)) if n < size else batch["feature"]
            )
            labels.append(F.pad(batch["label"], (0, size - n)) if n < size else batch["label"])
        sizes.append(n)
    rows = torch.arange(size, device=like.device)
    weights = (rows < torch.tensor(sizes, device=like.device)[:, None]).to(like.dtype)
    padded = any(0 < n < size for n in sizes)
    return torch.stack(features), torch.stack(labels), weights, padded


class StackedRuns:
    """G runs (detectors with a batched head, their losses and optimizers) as one stacked model.

    :meth:`step` steps every active run; :meth:`store` writes each run's state back to it.
    """

    def __init__(self, detectors: Sequence[Any], optimizers: Sequence[torch.optim.Optimizer]):
        problem = stacked_problem(detectors, optimizers)
        if problem is not None:
            raise ValueError(problem)
        self.heads: list[nn.Sequential] = []
        for detector in detectors:
            head = batched_head(detector)
            assert isinstance(head, nn.Sequential)  # stacked_problem checked
            self.heads.append(head)
        self.optimizers = list(optimizers)
        self.loss = stacked_loss([detector.loss_fn for detector in detectors])
        first = self.heads[0]
        shapes = [p.shape for p in first.parameters()]
        self.flat = self._stack([list(head.parameters()) for head in self.heads])
        self.grad = torch.zeros_like(self.flat)
        # kept between steps: SAM's saved weights and two scratch stacks (a fresh (G, P) tensor
        # per step is page-faulted in anew, which costs more than the arithmetic on it)
        self._saved = torch.empty_like(self.flat)
        self._scratch = (torch.empty_like(self.flat), torch.empty_like(self.flat))
        self.params = self._views(self.flat, shapes)
        for param, grad in zip(self.params, self._views(self.grad, shapes)):
            param.requires_grad_()
            param.grad = grad  # backward accumulates into the (G, P) gradient buffer
        self.norms = [i for i, layer in enumerate(first) if isinstance(layer, nn.BatchNorm1d)]
        self.stat_names = [f"{i}.{s}" for i in self.norms for s in ("running_mean", "running_var")]
        stats = [[head.get_buffer(name) for name in self.stat_names] for head in self.heads]
        self.stats = self._stack(stats)
        self.stat_views = self._views(self.stats, [b.shape for b in stats[0]])
        self.tracked = self._stack(
            [
                [head.get_buffer(f"{i}.num_batches_tracked") for i in self.norms]
                for head in self.heads
            ]
        )
        self._state_from_optimizers()

    # -- set-up and write-back ---------------------------------------------------------------
    @torch.no_grad()
    def _stack(self, tensors: list[list[torch.Tensor]]) -> torch.Tensor:
        """``(G, N)``: row g the flattened tensors of run g, one after the other."""
        rows = [
            torch.cat([t.reshape(-1) for t in row]) if row else torch.zeros(0) for row in tensors
        ]
        return torch.stack(rows)

    def _views(self, flat: torch.Tensor, shapes: list[torch.Size]) -> list[torch.Tensor]:
        views, start = [], 0
        for shape in shapes:
            size = shape.numel()
            views.append(flat[:, start : start + size].view(len(flat), *shape).detach())
            start += size
        return views

    def _column(self, values: list[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=self.flat.dtype, device=self.flat.device)[:, None]

    def _state_from_optimizers(self) -> None:
        groups = [getattr(o, "base_optimizer", o).param_groups[0] for o in self.optimizers]
        self.decoupled = (
            type(getattr(self.optimizers[0], "base_optimizer", self.optimizers[0]))
            is torch.optim.AdamW
        )
        self.beta1 = self._column([g["betas"][0] for g in groups])
        self.beta2 = self._column([g["betas"][1] for g in groups])
        self.eps = self._column([g["eps"] for g in groups])
        self.weight_decay = self._column([g["weight_decay"] for g in groups])
        self.sam = isinstance(self.optimizers[0], SAM)
        if self.sam:
            self.rho = self._column([g["rho"] for g in groups])
            self.adaptive = bool(groups[0]["adaptive"])
            self.eta = self._column([g["eta"] for g in groups])
        moments: dict[str, list[torch.Tensor]] = {"exp_avg": [], "exp_avg_sq": []}
        steps: list[float] = []
        for optimizer, head in zip(self.optimizers, self.heads):
            states = [optimizer.state.get(p, {}) for p in head.parameters()]
            for key, rows in moments.items():
                rows.append(
                    torch.cat(
                        [
                            s[key].reshape(-1) if key in s else torch.zeros_like(p).reshape(-1)
                            for s, p in zip(states, head.parameters())
                        ]
                    )
                )
            steps.append(float(states[0]["step"]) if "step" in states[0] else 0.0)
        self.exp_avg = torch.stack(moments["exp_avg"]).to(self.flat.dtype)
        self.exp_avg_sq = torch.stack(moments["exp_avg_sq"]).to(self.flat.dtype)
        self.steps = self._column(steps)

    @torch.no_grad()
    def store(self) -> None:
        """Copy each run's slice into its head and optimiser, so its checkpoints are ordinary."""
        steps = self.steps[:, 0].tolist()  # one host read
        avg = self._views(self.exp_avg, [p.shape for p in self.heads[0].parameters()])
        avg_sq = self._views(self.exp_avg_sq, [p.shape for p in self.heads[0].parameters()])
        for g, (head, optimizer) in enumerate(zip(self.heads, self.optimizers)):
            base = getattr(optimizer, "base_optimizer", optimizer)
            on_device = base.param_groups[0].get("fused") or base.param_groups[0].get("capturable")
            for j, param in enumerate(head.parameters()):
                param.copy_(self.params[j][g])
                device = param.device if on_device else torch.device("cpu")
                base.state[param] = {
                    "step": torch.tensor(steps[g], dtype=torch.float32, device=device),
                    "exp_avg": avg[j][g].clone().to(param.dtype),
                    "exp_avg_sq": avg_sq[j][g].clone().to(param.dtype),
                }
            for name, view in zip(self.stat_names, self.stat_views):
                head.get_buffer(name).copy_(view[g])
            for k, i in enumerate(self.norms):
                head.get_buffer(f"{i}.num_batches_tracked").copy_(self.tracked[g, k])

    # -- the forward -----------------------------------------------------------------------
    def logits(
        self,
        features: torch.Tensor,
        weights: torch.Tensor,
        update: torch.Tensor | None = None,
        padded: bool = True,
    ) -> torch.Tensor:
        """``(G, B)`` training-mode logits on ``(G, B, D)`` features, BatchNorm on weighted rows.
        ``update``: the ``(G,)`` runs whose running statistics advance. Without ``padded`` rows
        BatchNorm is one fused ``batch_norm`` over G·C channels, with the same statistics."""
        counts = weights.sum(1, keepdim=True).clamp_min(1.0)
        x, p, norm = features, 0, 0
        for layer in self.heads[0]:
            if isinstance(layer, nn.Linear):
                weight, bias = self.params[p], self.params[p + 1]
                x = torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
                p += 2
            elif isinstance(layer, nn.BatchNorm1d):
                norm_of = self._norm if padded else self._fused_norm
                x = norm_of(x, weights, counts, p, norm, layer, update)
                p, norm = p + 2, norm + 1
            elif isinstance(layer, nn.Dropout):
                x = F.dropout(x, layer.p, True)
            else:
                x = layer(x)
        return x.squeeze(-1)

    def _norm(self, x, weights, counts, p, norm, layer, update):
        rows = weights[:, :, None]
        mean = (x * rows).sum(1) / counts
        centred = x - mean[:, None]
        var = (centred.square() * rows).sum(1) / counts
        scale = torch.rsqrt(var + layer.eps) * self.params[p]
        out = centred * scale[:, None] + self.params[p + 1][:, None]
        if update is not None:
            with torch.no_grad():
                m, keep = layer.momentum, update[:, None]
                running_mean, running_var = self.stat_views[2 * norm], self.stat_views[2 * norm + 1]
                unbiased = var * counts / (counts - 1.0).clamp_min(1.0)
                running_mean.copy_(
                    torch.where(keep, (1 - m) * running_mean + m * mean, running_mean)
                )
                running_var.copy_(
                    torch.where(keep, (1 - m) * running_var + m * unbiased, running_var)
                )
                self.tracked[:, norm] += update.long()
        return out

    def _fused_norm(self, x, weights, counts, p, norm, layer, update):
        groups, batch, channels = x.shape
        running = self.stat_views[2 * norm], self.stat_views[2 * norm + 1]
        copies = [None, None] if update is None else [r.reshape(-1).clone() for r in running]
        out = F.batch_norm(
            x.transpose(0, 1).reshape(batch, groups * channels),
            copies[0],
            copies[1],
            self.params[p].reshape(-1),
            self.params[p + 1].reshape(-1),
            True,
            layer.momentum,
            layer.eps,
        )
        if update is not None:
            with torch.no_grad():
                keep = update[:, None]
                for view, copy in zip(running, copies):
                    assert copy is not None  # copied above, as update is given
                    view.copy_(torch.where(keep, copy.view(groups, channels), view))
                self.tracked[:, norm] += update.long()
        return out.reshape(batch, groups, channels).transpose(0, 1)

    # -- the step ----------------------------------------------------------------------------
    def step(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        weights: torch.Tensor,
        padded: bool = True,
    ) -> torch.Tensor:
        """One step of every run with a weighted row; the ``(G,)`` losses at θ, on the device."""
        active = weights.sum(1) > 0
        with deferred_value_checks(), warnings.catch_warnings():
            # the parameters are strided views of the (G, P) buffer, their gradients likewise:
            # backward accumulates into them in place, which is the point
            warnings.filterwarnings("ignore", message="grad and param do not obey")
            self.grad.zero_()
            logits = self.logits(features, weights, active, padded)
            losses = self.loss(logits, labels, weights)
            losses.sum().backward()
            if self.sam:
                with torch.no_grad():
                    self._saved.copy_(self.flat)
                    self._perturb()
                self.grad.zero_()
                logits = self.logits(features, weights, None, padded)
                self.loss(logits, labels, weights).sum().backward()
                with torch.no_grad():
                    self.flat.copy_(self._saved)
            self._adam(active)
        return losses.detach()

    def _perturb(self) -> None:
        """θ += SAM's ε = ρ·g/‖g‖ (ASAM: ρ·T²g/‖Tg‖, T = |θ| + η), each run with its own norm."""
        grad = self.grad
        if self.adaptive:
            scale = torch.abs(self.flat, out=self._scratch[0]).add_(self.eta)
            norm = torch.linalg.vector_norm(torch.mul(grad, scale, out=self._scratch[1]), dim=1)
            move = scale.square_().mul_(grad)
        else:
            norm, move = torch.linalg.vector_norm(grad, dim=1), grad
        norm = norm[:, None]
        tiny = torch.finfo(norm.dtype).tiny
        inverse = torch.where(norm > 0, 1.0 / norm.clamp_min(tiny), torch.zeros_like(norm))
        self.flat.add_(torch.mul(move, inverse * self.rho, out=self._scratch[1]))

    @torch.no_grad()
    def _adam(self, active: torch.Tensor) -> None:
        """Adam/AdamW on the ``(G, P)`` stack, in place (the stack is large: a temporary per
        operation cost more than the arithmetic). An inactive run's row gets weight 0 in every
        update, so its weights, moments and step count stay exactly as they were."""
        lr = self._column([o.param_groups[0]["lr"] for o in self.optimizers])
        keep = active[:, None].to(self.flat.dtype)
        self.steps.add_(keep)
        grad, param = self.grad, self.flat
        first, second = self._scratch
        if self.decoupled:
            param.mul_(1 - lr * self.weight_decay * keep)
        else:
            grad = torch.mul(param, self.weight_decay, out=second).add_(grad)
        self.exp_avg.lerp_(grad, (1 - self.beta1) * keep)
        square = torch.square(grad, out=first).mul_((1 - self.beta2) * keep)
        self.exp_avg_sq.mul_(torch.where(keep > 0, self.beta2, 1.0)).add_(square)
        correction1 = 1 - self.beta1.pow(self.steps)
        correction2 = 1 - self.beta2.pow(self.steps)
        denom = torch.sqrt(self.exp_avg_sq, out=first).div_(correction2.sqrt()).add_(self.eps)
        param.sub_(torch.mul(self.exp_avg, lr / correction1 * keep, out=second).div_(denom))
