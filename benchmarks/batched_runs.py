#!/usr/bin/env python
"""Benchmark: an imbalance sweep of ``spcup`` heads, batched (``train.batched_runs``) vs separate.

The sweep is ``--ratios`` × ``--seeds`` runs of the ``spcup`` head (options, loss, SAM(AdamW) of
``configs/detectors/spcup.yaml``) on one random feature bank of ``--n-real`` real and as many
fake ``--dim``-d features; the run at ratio r keeps ``n_real / r`` of the fakes (its own rows,
drawn with its seed). Each run's epoch is as the Trainer's on a bank: latent augmentation of its
rows, a shuffled order, batches of ``--batch-size``. Printed: one run's epoch (the ratio-1 run,
the largest), the 9 runs one after the other (each step the Trainer's ``TrainStep``, captured as a
CUDA graph on a GPU), and the same runs batched (``dfshield.engine.grouped_runs.lockstep``: one
stacked model, ``dfshield.engine.stacked_head``), with the ratios. Head training only: the bank
is in memory, nothing is encoded or validated. Also printed: the operators dispatched by one
step (``torch.profiler`` on the CPU side, every ``aten`` call, nested ones included) of one run
and of all runs batched, and their ratio: what a GPU step's launch cost scales with.

    python benchmarks/batched_runs.py                           # CPU-sized
    python benchmarks/batched_runs.py --device cuda --n-real 125000 --dim 768
    python benchmarks/batched_runs.py --ratios 10 15 20 30 50 --seeds 3   # 15 runs
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from _common import add_run_options, feature_backbone, footer, new_parser, record, setup, sync

from dfshield.config import load_run_config
from dfshield.detectors import build_detector
from dfshield.engine.batch_sources import batch_bounds
from dfshield.engine.grouped_runs import lockstep
from dfshield.engine.stacked_head import StackedRuns, stack_batches
from dfshield.engine.steps import TrainStep, capture_mode
from dfshield.optimizers import build_optimizer
from dfshield.seeding import epoch_seed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = new_parser(__doc__)
    parser.add_argument("--n-real", type=int, default=1500, help="real rows (as many fake)")
    parser.add_argument("--dim", type=int, default=64, help="feature size")
    parser.add_argument("--hidden", type=int, default=None, help="head width (default: --dim)")
    parser.add_argument("--batch-size", type=int, default=256, help="samples per step")
    parser.add_argument("--ratios", type=float, nargs="+", default=[1, 10, 50])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per ratio")
    add_run_options(parser, seed=8079, seed_help="seed of the bank; run seeds follow it")
    args = parser.parse_args(argv)
    if min(args.n_real, args.dim, args.batch_size, args.seeds) < 1 or min(args.ratios) < 1:
        parser.error("sizes must be >= 1 and ratios >= 1")
    return args


def make_runs(args, device: torch.device, folder: Path) -> list[dict]:
    """One dict per run: its detector (seeded as the run's Trainer seeds it), optimizer and
    rows of the bank."""
    cfg = load_run_config(detector="spcup")
    generator = torch.Generator().manual_seed(args.seed)
    n = args.n_real
    features = torch.randn(2 * n, args.dim, generator=generator).to(device)
    labels = torch.cat([torch.zeros(n), torch.ones(n)]).long().to(device)
    backbone = feature_backbone(args.dim, folder)
    runs = []
    for ratio in args.ratios:
        for seed in range(args.seed, args.seed + args.seeds):
            torch.manual_seed(seed)
            kept = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
            fakes = n + kept[: max(1, round(n / ratio))]
            rows = torch.cat([torch.arange(n), fakes]).to(device)
            detector_cfg = {**cfg.detector, "backbone": backbone, "hidden": args.hidden}
            detector = build_detector(detector_cfg).to(device)
            fake = len(fakes)
            detector.build_loss(cfg.loss, class_counts={"real": n, "fake": fake})
            optimizer = build_optimizer(cfg.optimizer, detector)
            runs.append(
                {
                    "ratio": ratio,
                    "seed": seed,
                    "detector": detector.train(),
                    "optimizer": optimizer,
                    "features": features[rows],
                    "labels": labels[rows],
                }
            )
    return runs


def batches(run: dict, batch_size: int, epoch: int) -> Iterator[dict]:
    """A run's epoch: its rows latent-augmented, shuffled, in batches (as ``BankBatches``)."""
    generator = torch.Generator(device=run["features"].device)
    generator.manual_seed(epoch_seed(run["seed"], epoch))
    bank, labels = run["detector"].augment_features(run["features"], run["labels"], generator)
    order = torch.randperm(len(labels), generator=generator, device=labels.device)
    for start, stop in batch_bounds(len(labels), batch_size):
        index = order[start:stop]
        yield {"feature": bank[index], "label": labels[index], "image": None}


def separate_epoch(run: dict, batch_size: int, device: torch.device) -> float:
    detector, optimizer = run["detector"], run["optimizer"]
    capture = capture_mode("auto", device, detector, optimizer)
    step = TrainStep(detector, detector, optimizer, None, capture)
    sync(device)
    started = time.perf_counter()
    losses = [step(data) for data in batches(run, batch_size, epoch=0)]
    torch.stack(losses).sum().item()
    sync(device)
    seconds = time.perf_counter() - started
    run["capture"] = step.capture  # after the epoch: a failed capture falls back to "off"
    return seconds


def stacked(runs: list[dict]) -> StackedRuns:
    return StackedRuns([run["detector"] for run in runs], [run["optimizer"] for run in runs])


def batched_epoch(runs: list[dict], batch_size: int, device: torch.device) -> float:
    losses: list[torch.Tensor] = []
    streams = [batches(run, batch_size, epoch=0) for run in runs]
    sync(device)
    started = time.perf_counter()
    group = stacked(runs)
    lockstep(streams, group, lambda g, loss: losses.append(loss))
    group.store()  # as before each end of epoch: the runs' detectors and optimisers updated
    torch.stack(losses).sum().item()
    sync(device)
    return time.perf_counter() - started


def dispatches(step: Callable[[], object]) -> int:
    """Operators dispatched by one call of ``step``: every ``aten`` call torch.profiler records
    on the CPU side (nested ones included)."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities) as profile:
        step()
    return sum(event.name.startswith("aten::") for event in profile.events())


def step_dispatches(runs: list[dict], batch_size: int, device: torch.device) -> tuple[int, int]:
    """Operators of one step of the first run alone (the Trainer's step, uncaptured) and of one
    stacked step of all runs, stacking their batches included (each on its first batch of the
    next epoch)."""
    first = [next(batches(run, batch_size, epoch=1)) for run in runs]
    detector, optimizer = runs[0]["detector"], runs[0]["optimizer"]
    one = TrainStep(detector, detector, optimizer, None)
    group = stacked(runs)
    return (
        dispatches(lambda: one(first[0])),
        dispatches(lambda: group.step(*stack_batches(first))),
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = setup(args)
    with tempfile.TemporaryDirectory(prefix="dfshield-bench-batched-") as tmp:
        separate_runs = make_runs(args, device, Path(tmp))
        batched_runs = make_runs(args, device, Path(tmp))
    times = [separate_epoch(run, args.batch_size, device) for run in separate_runs]
    batched = batched_epoch(batched_runs, args.batch_size, device)
    one_ops, batched_ops = step_dispatches(batched_runs, args.batch_size, device)
    one, total = times[0], sum(times)
    steps = [len(batch_bounds(2 * len(run["labels"]), args.batch_size)) for run in separate_runs]
    print(
        f"\nspcup head sweep: {2 * args.n_real} x {args.dim} random features, ratios "
        f"{' '.join(f'{r:g}' for r in args.ratios)} x {args.seeds} seeds = {len(times)} runs, "
        f"batch {args.batch_size}, {min(steps)}-{max(steps)} steps/epoch, one epoch each"
    )
    print(f"{'what':<36}  {'seconds':>8}  {'x one run':>9}")
    print(f"{'one run (ratio ' + f'{args.ratios[0]:g}' + ')':<36}  {one:>8.2f}  {1:>9.2f}")
    print(f"{f'{len(times)} separate runs':<36}  {total:>8.2f}  {total / one:>9.2f}")
    print(f"{f'{len(times)} runs batched':<36}  {batched:>8.2f}  {batched / one:>9.2f}")
    print(f"ratio separate / batched: {total / batched:.2f}x")
    print(
        f"operators dispatched per step: {one_ops} (one run), {batched_ops} ({len(times)} runs "
        f"batched); ratio {batched_ops / one_ops:.2f}x"
    )
    record(
        runs=len(times),
        one_run_s=one,
        separate_s=total,
        batched_s=batched,
        batched_over_one_run=batched / one,
        separate_over_batched=total / batched,
        separate_capture=separate_runs[0]["capture"],
        dispatches_one_run=one_ops,
        dispatches_batched=batched_ops,
    )
    print(footer())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
