"""Batched runs: several runs of one MLP head on one feature bank trained as one stacked model.

A sweep (``dfshield imbalance`` with ``train.batched_runs: true``) trains the same head, under the
same loss, optimiser and scheduler configs, once per ratio and seed. Each such run is small: on a
GPU its step is bound by kernel launches, not arithmetic. Here the G runs of one config train as
one model whose weights are stacked on a leading run axis (:mod:`dfshield.engine.stacked_head`):
one forward (batched matmuls, BatchNorm with each run's own statistics), every run's loss in one
call, SAM with each run's own gradient norm and one Adam/AdamW step over the stack, so a step
dispatches about as many operators for G runs as for one.

Every run stays a run of its own (docs/methods.md §8.1):

- **Weights:** each run starts from its own detector (built by its own :class:`Trainer`, so from
  its own seed, as a separate run would be); the stacked step gives run g exactly run g's
  gradient, SAM perturbation and update.
- **Optimiser and scheduler:** each run's own (built by ``Trainer.start``): the stacked step reads
  each run's learning rate from its optimiser (which its scheduler changes) and keeps each run's
  step count; before each end of epoch the stacked state is written back into each run's
  optimiser (``StackedRuns.store``), so its ``state_dict`` is that of a separate run.
- **Batches, by masking:** each run draws its own batches from its own (subsampled) bank rows
  with its own seeded generator and latent augmentation (``BankBatches.train_batches``): the
  rows, their order and their noise are those of the separate run. A smaller last batch is
  padded with zero-weight rows (left out of the losses, CVaR's k and the BatchNorm statistics); a
  run whose epoch is over (a smaller subsample has fewer steps) takes masked no-op steps until
  the group's epoch ends. So each run takes exactly the steps of its separate run.
- **What differs from a separate run:** only the dropout masks (one global random stream for the
  whole group instead of one per run) and float rounding: the same distribution, not the same
  numbers. With ``dropout: 0`` a batched run equals its separate run within float tolerance.
- **Validation and files:** each run goes through its trainer's public epoch API
  (``start``, ``begin_epoch``, ``end_step``, ``end_epoch``, ``finish``: the loop of
  ``Trainer.fit``), so every run validates, keeps its own best epoch and writes its own
  ``best.pt``, ``last.pt``, ``log.csv`` and ``config.json``; ``dfshield test`` / ``predict`` and
  the study's report read them unchanged. (A run's ``seconds`` in ``log.csv`` is the group's time
  from the epoch's start to the end of its own epoch.)

Which detectors: those that declare a ``batched_head`` (the detector contract,
``dfshield/detectors/base.py``) and keep the base ``get_losses``; the engine knows no concrete
detector. Not supported (the study trains such runs separately, saying why, see
:func:`batching_problem`): other detectors, trainable backbones, distributed runs, optimisers
other than adam / adamw (or SAM around one; amsgrad), an explicit ``train.capture`` (the
stacked step is not captured yet), BatchNorm with ``momentum: null``. Losses that
:func:`dfshield.losses.stacked.stacked_loss` cannot vectorise are evaluated by a loop over the
runs inside the same step. Resuming a batched sweep is not offered (``dfshield imbalance`` has no
``--resume``; a sweep starts from scratch).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from dfshield.engine.stacked_head import (
    StackedRuns,
    batched_head,
    get_losses_problem,
    head_problem,
    stack_batches,
)
from dfshield.seeding import epoch_seed, seed_everything

#: the optimisers the stacked step implements (alone or as SAM's base)
STACKED_OPTIMIZERS = ("adam", "adamw")


# -- the fit loop ----------------------------------------------------------------------------


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
    return (
        head_problem([batched_head(detector)])
        or get_losses_problem(detector)
        or _optimizer_problem(cfg.optimizer)
    )


def _optimizer_problem(cfg: dict) -> str | None:
    """Why runs under the optimiser config ``cfg`` cannot step stacked (None: they can)."""
    base = (cfg.get("base") or {}) if cfg.get("name") == "sam" else cfg
    if base.get("name") not in STACKED_OPTIMIZERS or base.get("amsgrad"):
        return (
            f"optimizer {cfg.get('name')!r} is not adam or adamw without amsgrad, or sam around "
            f"one (only those step stacked)"
        )
    return None


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
        stacked = StackedRuns([t.detector for t in trainers], [t.optimizer for t in trainers])
        with warnings.catch_warnings():
            # the stacked step updates the weights without each run's optimizer.step(), which
            # torch's scheduler check looks for; the schedule itself is unaffected
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
            for epoch in range(epochs.pop()):
                _epoch(trainers, stacked, epoch)
        return [trainer.finish() for trainer in trainers]


def lockstep(
    streams: Sequence[Iterator[dict]],
    stacked: StackedRuns,
    after_step: Callable[[int, torch.Tensor], None],
) -> None:
    """One epoch of G runs in lockstep: each step takes the next batch of every run whose
    ``streams[g]`` is not exhausted (the others are inactive: masked no-op steps) and steps them
    as one :meth:`StackedRuns.step`; ``after_step(g, loss)`` follows each of run g's steps."""
    live = [True] * len(streams)
    while True:
        batches = [next(stream, None) if on else None for stream, on in zip(streams, live)]
        live = [batch is not None for batch in batches]
        if not any(live):
            return
        losses = stacked.step(*stack_batches(batches))
        for g in range(len(streams)):
            if live[g]:
                after_step(g, losses[g])


def _epoch(trainers: Sequence[Any], stacked: StackedRuns, epoch: int) -> None:
    """One epoch of every run: the runs' steps in lockstep (a run is inactive once its own epoch
    is over), each run's state written back into its detector and optimiser, then each run's end
    of epoch (validation, checkpoints, log)."""
    streams = [iter(trainer.begin_epoch(epoch)) for trainer in trainers]
    seed_everything(epoch_seed(trainers[0].cfg.train.seed, epoch))  # the group's dropout stream
    lockstep(streams, stacked, lambda g, loss: trainers[g].end_step(loss))
    stacked.store()
    for trainer in trainers:
        trainer.end_epoch(capture="off")  # the stacked step is not captured


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
