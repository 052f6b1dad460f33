"""Batched runs: several runs of one MLP head on one feature bank trained as one stacked model.

The G runs of one sweep config (``train.batched_runs``) train as one model stacked on a run axis
(:mod:`dfshield.engine.stacked_head`), so a step dispatches about one run's operators. Each run
keeps its own weights, batches, rate, optimiser state and SAM norm (docs/methods.md §8.1), and its
trainer's epoch API validates it and writes its own files (``log.csv``'s ``seconds``: the group's
time). :func:`batching_problem` says why a run cannot be batched; no resume.
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
    """Train ``trainers`` (one config but for seed and subsample) as one batched model. Each run's
    folder gets what its own ``fit()`` would write; returns each run's ``fit()`` summary."""
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
    """One epoch of G runs in lockstep; a run whose stream is exhausted takes masked no-op steps.
    ``after_step(g, loss)`` follows each of run g's steps."""
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
    """One epoch of every run: lockstep steps, state written back, each run's end of epoch."""
    streams = [iter(trainer.begin_epoch(epoch)) for trainer in trainers]
    seed_everything(epoch_seed(trainers[0].cfg.train.seed, epoch))  # the group's dropout stream
    lockstep(streams, stacked, lambda g, loss: trainers[g].end_step(loss))
    stacked.store()
    for trainer in trainers:
        trainer.end_epoch(capture="off")  # the stacked step is not captured


def detector_problem(cfg) -> str | None:
    """Why ``cfg``'s detector cannot be batched, from its class alone (None: perhaps it can)."""
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
