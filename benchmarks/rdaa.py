#!/usr/bin/env python
"""Benchmark: ``rdaa`` training seconds per epoch on a 100k-feature bank.

The detector is ``dfshield.detectors.rdaa.RDAADetector`` with the options, optimiser (AdamW
1e-4, weight decay 1e-4, via ``dfshield.optimizers.build_optimizer``) and scheduler of
``configs/detectors/rdaa.yaml``. The bank holds ``--n-features`` random ``--dim``-d features
(768 = CLIP ViT-L/14 ``proj``, what rdaa trains on), real:fake ``--imbalance``:1. One epoch is run
as the Trainer runs a bank epoch: ``augment_features`` (identity for rdaa), a shuffled order,
batches of ``--batch-size`` ``feature`` data_dicts, each step the Trainer's
``dfshield.engine.steps.TrainStep`` (``optimizer.step(closure)`` with ``detector.get_losses``, no
host read; captured as a CUDA graph on a GPU with ``--capture auto``), the losses kept on the
device and read once at the end of the epoch, scheduler step at the end; then the whole bank is
scored once in eval mode in chunks of 4,096 in float32 (as the evaluator scores a bank).

rdaa reads its input size from ``backbone.feature_dim``. Building CLIP ViT-L/14 only to learn
that it gives 768 would cost seconds and 1.2 GB, and the tiny demo ViT gives 64-d; so the backbone
here is a one-layer random ViT registered with open_clip from a temporary JSON file whose
``embed_dim`` is ``--dim``. It is never run: the features come from the bank.

    python benchmarks/rdaa.py                         # 100k x 768, batch 256, one epoch
    python benchmarks/rdaa.py --n-features 20000      # a quicker run
    python benchmarks/rdaa.py --device cuda --epochs 3   # captured as a CUDA graph
    python benchmarks/rdaa.py --device cuda --capture off # the plain step, for comparison
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _common import (
    add_run_options,
    bank_epoch,
    feature_backbone,
    footer,
    new_parser,
    random_bank,
    record,
    setup,
    sync,
    warm_up,
)

from dfshield.config import load_run_config
from dfshield.detectors import build_detector
from dfshield.engine.batch_sources import batch_bounds
from dfshield.engine.steps import CAPTURE_MODES, WARMUP_STEPS, EpochLosses, TrainStep, capture_mode
from dfshield.eval.evaluator import amp_dtype
from dfshield.optimizers import build_optimizer, build_scheduler
from dfshield.seeding import epoch_seed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = new_parser(__doc__)
    parser.add_argument("--n-features", type=int, default=100_000, help="rows of the feature bank")
    parser.add_argument("--dim", type=int, default=768, help="feature size (backbone.feature_dim)")
    parser.add_argument(
        "--imbalance", type=float, default=10.0, help="real:fake ratio of the labels"
    )
    parser.add_argument("--batch-size", type=int, default=256, help="samples per step")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs")
    parser.add_argument(
        "--capture",
        default="auto",
        choices=CAPTURE_MODES,
        help="train.capture of the step (auto: a CUDA graph on a GPU)",
    )
    add_run_options(parser, seed=8079, seed_help="seed of weights, features and order")
    args = parser.parse_args(argv)
    if min(args.n_features, args.dim, args.batch_size, args.epochs) < 1 or args.imbalance <= 0:
        parser.error("sizes must be >= 1 and --imbalance > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = setup(args)

    cfg = load_run_config(
        detector="rdaa"
    )  # detector options, loss, optimizer, scheduler as shipped
    with tempfile.TemporaryDirectory(prefix="dfshield-bench-rdaa-") as tmp:
        torch.manual_seed(args.seed)
        detector = build_detector(
            {**cfg.detector, "backbone": feature_backbone(args.dim, Path(tmp))}
        )
    detector = detector.to(device)
    detector.build_loss(cfg.loss)
    optimizer = build_optimizer(cfg.optimizer, detector)
    n = args.n_features
    features, labels, n_fake = random_bank(n, args.dim, args.imbalance, args.seed, device)
    bounds = batch_bounds(n, args.batch_size)
    scheduler = build_scheduler(
        cfg.scheduler, optimizer, epochs=args.epochs, steps_per_epoch=len(bounds)
    )
    trainable = sum(p.numel() for p in detector.parameters() if p.requires_grad) - sum(
        p.numel() for p in detector.backbone.parameters() if p.requires_grad
    )

    capture = capture_mode(args.capture, device, detector, optimizer)
    step = TrainStep(detector, detector, optimizer, amp_dtype("auto", device), capture)
    detector.train()
    warm_up(step, features, labels, args.batch_size, steps=WARMUP_STEPS + 2)  # incl. capture

    epochs, losses = [], []
    for epoch in range(args.epochs):
        sync(device)
        started = time.perf_counter()
        detector.train()
        epoch_generator = torch.Generator(device=device).manual_seed(epoch_seed(args.seed, epoch))
        step_losses = EpochLosses(len(bounds))
        bank_epoch(
            detector,
            lambda data, losses=step_losses: losses.add(step(data)),
            scheduler,
            features,
            labels,
            bounds,
            epoch_generator,
        )
        losses.append(step_losses.read()[0])  # the epoch's one host read
        epochs.append(time.perf_counter() - started)

    detector.eval()
    sync(device)
    started = time.perf_counter()
    with torch.no_grad():
        for start in range(0, n, 4096):
            detector({"feature": features[start : start + 4096], "image": None})[
                "prob"
            ].float().cpu()
    sync(device)
    scoring = time.perf_counter() - started

    epoch_s = statistics.median(epochs)
    print(
        f"\nrdaa: {n} x {args.dim} random features (real:fake {n - n_fake}:{n_fake}), batch "
        f"{args.batch_size}, {len(bounds)} steps/epoch, {cfg.optimizer['name']} lr "
        f"{cfg.optimizer.get('lr')}, {trainable / 1e6:.2f} M trained parameters, fp32, "
        f"capture {step.capture}"
    )
    print(f"{'what':<22}  {'seconds':>8}  {'steps/s':>8}  {'samples/s':>10}")
    print(
        f"{'train epoch (median)':<22}  {epoch_s:>8.2f}  {len(bounds) / epoch_s:>8.1f}  "
        f"{n / epoch_s:>10.0f}"
    )
    print(f"{'score the bank (eval)':<22}  {scoring:>8.2f}  {'-':>8}  {n / scoring:>10.0f}")
    print(
        f"per epoch: {' '.join(f'{s:.2f}' for s in epochs)} s; mean training loss: "
        f"{' '.join(f'{v:.4f}' for v in losses)}"
    )
    print(f"ratio train epoch / scoring pass: {epoch_s / scoring:.1f}x")
    record(epoch_s=epoch_s, scoring_s=scoring, steps=len(bounds), capture=step.capture)
    print(footer())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
