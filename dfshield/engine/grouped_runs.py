"""Batched runs: several runs of one MLP head on one feature bank trained as one batched model.

A sweep (``dfshield imbalance`` with ``train.batched_runs: true``) trains the same head, under the
same loss, optimiser and scheduler configs, once per ratio and seed. Each such run is small: on a
GPU its step is bound by kernel launches, not arithmetic. Here the G runs of one config step
together: one forward of a :class:`GroupedHead` on a ``(G, B, D)`` stack of the runs' batches
(Linear layers as batched matmuls, BatchNorm over G·C channels with exactly per-run statistics,
elementwise activations and dropout) and one backward of the sum of the runs' losses.

Every run stays a run of its own (docs/methods.md §8.1):

- **Weights:** each run keeps its own detector (built by its own :class:`Trainer`, so from its
  own seed, as a separate run would be); the grouped forward stacks their parameters, so the
  gradient of the summed loss reaching run g's parameters is exactly the gradient of run g's loss.
- **Optimiser and scheduler:** each run's own (built by ``Trainer.start``). AdamW, Adam and SGD
  are elementwise, so G optimisers over G parameter sets are one optimiser over the stack; keeping
  them separate keeps each run's step count, learning rate and ``state_dict`` its own. SAM's ε
  uses each run's *own* gradient norm (run g's SAM sees only run g's parameters), never a norm
  across runs; its first and second steps are taken per run around the grouped forwards.
- **Batches:** each run draws its own batches from its own (subsampled) bank rows with its own
  seeded generator and latent augmentation (``BankBatches.train_batches``): the rows, their order
  and their noise are those of the separate run. A run whose subsample has fewer rows has fewer
  steps per epoch: once its epoch is over it simply leaves the group until the next epoch (it is
  not stepped, and not cycled), so it takes exactly the steps of a separate run. Runs whose
  batches differ in size at one step (a smaller last batch) step in sub-groups of equal size.
- **What differs from a separate run:** only the dropout masks (one global random stream for the
  whole group instead of one per run) and float rounding of batched matmuls: the same
  distribution, not the same numbers. With ``dropout: 0`` a batched run equals its separate run
  within float tolerance.
- **Validation and files:** each run goes through its trainer's public epoch API
  (``start``, ``begin_epoch``, ``end_step``, ``end_epoch``, ``finish``: the loop of
  ``Trainer.fit``), so every run validates, keeps its own best epoch and writes its own
  ``best.pt``, ``last.pt``, ``log.csv`` and ``config.json``; ``dfshield test`` / ``predict`` and
  the study's report read them unchanged. (A run's ``seconds`` in ``log.csv`` is the group's time
  from the epoch's start to the end of its own epoch.)

Which detectors: those that declare a ``batched_head`` (the detector contract,
``dfshield/detectors/base.py``); the engine knows no concrete detector. Not supported (the study
trains such runs separately, saying why, see :func:`batching_problem`): other detectors,
trainable backbones, distributed runs, an explicit ``train.capture`` (the
batched step is not captured), BatchNorm with ``momentum: null``. Resuming a batched sweep is not
offered (``dfshield imbalance`` has no ``--resume``; a sweep starts from scratch).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dfshield.losses import deferred_value_checks
from dfshield.optimizers.sam import SAM
from dfshield.seeding import epoch_seed, seed_everything

#: elementwise layers a grouped head applies to the whole stack as they are
_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.GELU, nn.Identity)


class GroupedHead:
    """The forward of G MLP heads of one architecture on a ``(G, B, D)`` stack of batches.

    ``heads``: G ``nn.Sequential`` heads built by :func:`dfshield.detectors.heads.mlp_head`
    (Linear, BatchNorm1d, elementwise activation, Dropout blocks). Calling the grouped head
    returns logits of shape ``(G, B)``; in training mode each head's BatchNorm running statistics
    advance exactly as its own forward would advance them.
    """

    def __init__(self, heads: Sequence[nn.Sequential]):
        problem = head_problem(heads)
        if problem is not None:
            raise ValueError(problem)
        self.layers = list(zip(*heads))

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        x = features
        for layers in self.layers:
            first = layers[0]
            if isinstance(first, nn.Linear):
                weight = torch.stack([layer.weight for layer in layers])  # (G, out, in)
                bias = torch.stack([layer.bias for layer in layers]).unsqueeze(1)
                x = torch.baddbmm(bias, x, weight.transpose(1, 2))
            elif isinstance(first, nn.BatchNorm1d):
                x = _grouped_batch_norm(x, layers)
            elif isinstance(first, nn.Dropout):
                x = F.dropout(x, first.p, first.training)
            else:
                x = first(x)
        return x.squeeze(-1)


def head_problem(heads: Sequence[nn.Module]) -> str | None:
    """Why ``heads`` cannot run as one :class:`GroupedHead` (None: they can)."""
    if not heads or not all(isinstance(head, nn.Sequential) for head in heads):
        return "the heads are not nn.Sequential MLP heads"
    shapes = {tuple(_layer_key(layer) for layer in head) for head in heads}
    if len(shapes) != 1:
        return "the heads differ in architecture"
    for layer in heads[0]:
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


def _grouped_batch_norm(x: torch.Tensor, layers: Sequence[nn.BatchNorm1d]) -> torch.Tensor:
    """BatchNorm1d of G heads as one over G·C channels: each channel's statistics are taken over
    its own run's batch only, so the result and the running statistics are each run's own."""
    groups, batch, channels = x.shape
    first = layers[0]
    flat = x.transpose(0, 1).reshape(batch, groups * channels)
    training = first.training
    mean = torch.cat([layer.running_mean for layer in layers])
    var = torch.cat([layer.running_var for layer in layers])
    out = F.batch_norm(
        flat,
        mean,
        var,
        torch.cat([layer.weight for layer in layers]),
        torch.cat([layer.bias for layer in layers]),
        training,
        first.momentum,
        first.eps,
    )
    if training:
        with torch.no_grad():
            for g, layer in enumerate(layers):
                part = slice(g * channels, (g + 1) * channels)
                layer.running_mean.copy_(mean[part])
                layer.running_var.copy_(var[part])
                layer.num_batches_tracked.add_(1)
    return out.reshape(batch, groups, channels).transpose(0, 1)


# -- the step --------------------------------------------------------------------------------


def batched_step(
    detectors: Sequence[Any],
    optimizers: Sequence[torch.optim.Optimizer],
    batches: Sequence[dict],
) -> list[torch.Tensor]:
    """One optimisation step of each of G runs, on its own batch (all of one size); returns
    each run's loss at θ, detached, on the device.

    Equal, run for run, to ``TrainStep`` on each run alone (same weights, same batch, no dropout):
    the summed loss's gradient reaching run g's parameters is run g's gradient, and each run's
    optimiser (SAM's per-run norm included) steps only its own parameters.
    """
    head = GroupedHead([batched_head(detector) for detector in detectors])
    features = torch.stack([batch["feature"] for batch in batches])
    sam = [isinstance(optimizer, SAM) for optimizer in optimizers]
    if any(sam) and not all(sam):
        raise ValueError("a batched step needs all runs under SAM or none")

    def closure() -> list[torch.Tensor]:
        logits = head(features)
        losses = [
            detector.get_losses(batch, {"cls": logits[g], "prob": torch.sigmoid(logits[g])})[
                "overall"
            ]
            for g, (detector, batch) in enumerate(zip(detectors, batches))
        ]
        torch.stack(losses).sum().backward()
        return losses

    with deferred_value_checks():
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        losses = closure()
        if all(sam):  # SAM's two-step form, each run's ε from its own gradient norm
            for optimizer in optimizers:
                optimizer.first_step(zero_grad=True)
            closure()
            for optimizer in optimizers:
                optimizer.second_step(zero_grad=True)
        else:
            for optimizer in optimizers:
                optimizer.step()
    return [loss.detach() for loss in losses]


# -- the fit loop ----------------------------------------------------------------------------


def batched_head(detector) -> nn.Module:
    """The head that ``detector`` declares batchable (its ``batched_head`` attribute names it)."""
    return getattr(detector, detector.batched_head)


def batching_problem(trainer) -> str | None:
    """Why ``trainer``'s run cannot train in a batched group (None: it can)."""
    detector, cfg = trainer.detector, trainer.cfg
    problem = _undeclared(trainer.name, type(detector))
    if problem is not None:
        return problem
    if not detector.uses_feature_bank:
        return f"detector '{trainer.name}' trains its backbone (only heads on a feature bank)"
    if trainer.dist.enabled:
        return "distributed (torchrun) runs are not batched"
    if cfg.train.capture in ("cuda_graph", "compile"):
        return f"train.capture: {cfg.train.capture} (the batched step is not captured)"
    return head_problem([batched_head(detector)])


def fit_batched(trainers: Sequence[Any]) -> list[dict[str, Any]]:
    """Train the runs of ``trainers`` (each a :class:`dfshield.engine.trainer.Trainer` of one
    config but for its seed and training subsample, :func:`batching_problem` None for each) as
    one batched model; each run's folder gets what its own ``fit()`` would write. Returns each
    run's ``fit()`` summary."""
    epochs = {trainer.cfg.train.epochs for trainer in trainers}
    if len(epochs) != 1:
        raise ValueError("batched runs need one train.epochs")
    with contextlib.ExitStack() as stack:
        for trainer in trainers:
            stack.enter_context(trainer.hold_run_folder())
        for trainer in trainers:
            trainer.start()  # an old run in a folder is removed only when the first epoch begins
        with warnings.catch_warnings():
            # SAM's two-step form steps its base optimizer, which torch's scheduler check does
            # not see (as with DeepfakeBench's trainer); the schedule itself is unaffected
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            for epoch in range(epochs.pop()):
                _epoch(trainers, epoch)
        return [trainer.finish() for trainer in trainers]


def lockstep(
    streams: Sequence[Iterator[dict]],
    detectors: Sequence[Any],
    optimizers: Sequence[torch.optim.Optimizer],
    after_step: Callable[[int, torch.Tensor], None],
) -> None:
    """One epoch of G runs in lockstep: each step takes the next batch of every run whose
    ``streams[g]`` is not exhausted (a run leaves once its own epoch is over) and steps them in
    :func:`batched_step` (in sub-groups of equal batch size); ``after_step(g, loss)`` follows
    each of run g's steps."""
    active = list(range(len(streams)))
    while active:
        batches = {g: next(streams[g], None) for g in active}
        active = [g for g in active if batches[g] is not None]
        by_size: dict[int, list[int]] = {}
        for g in active:
            by_size.setdefault(len(batches[g]["label"]), []).append(g)
        for group in by_size.values():
            step_losses = batched_step(
                [detectors[g] for g in group],
                [optimizers[g] for g in group],
                [batches[g] for g in group],
            )
            for g, loss in zip(group, step_losses):
                after_step(g, loss)


def _epoch(trainers: Sequence[Any], epoch: int) -> None:
    """One epoch of every run: the runs' steps in lockstep (a run leaves once its own epoch is
    over), then each run's end of epoch (validation, checkpoints, log)."""
    streams = [iter(trainer.begin_epoch(epoch)) for trainer in trainers]
    seed_everything(epoch_seed(trainers[0].cfg.train.seed, epoch))  # the group's dropout stream
    detectors = [trainer.detector for trainer in trainers]
    optimizers = [trainer.optimizer for trainer in trainers]
    lockstep(streams, detectors, optimizers, lambda g, loss: trainers[g].end_step(loss))
    for trainer in trainers:
        trainer.end_epoch(capture="off")  # the grouped step is not captured


def detector_problem(cfg) -> str | None:
    """Why runs of ``cfg``'s detector cannot be batched, known from its registry class alone
    (None: perhaps they can; :func:`batching_problem` decides once the detector is built)."""
    from dfshield.registry import DETECTOR

    name = cfg.detector.get("name")
    return _undeclared(name, DETECTOR.get(name))


def _undeclared(name: str, factory: Any) -> str | None:
    """Why a detector class declares no batched head (None: it declares one)."""
    if getattr(factory, "batched_head", None) is None:
        return (
            f"detector '{name}' declares no batched_head (the detector contract, "
            f"dfshield/detectors/base.py); only such MLP heads are batched"
        )
    return None
