#!/usr/bin/env python
"""Benchmark: seconds per training epoch on the feature bank vs re-encoding
every image every epoch; with ``--gpu-clip``, CLIP ViT-L/14 extraction speed in fp32 vs bf16 and
one epoch of ``spcup`` head training on 250k × 768 features.

**Bank vs re-encoding** (default). One detector config (default ``clip_linear`` from
``configs/detectors/``, backbone swapped for the tiny random-init ViT ``{name: clip, model:
dfshield-tiny-vit, pretrained: null}``) on the DemoFaces dataset, generated into a temporary
folder. Two runs of the same detector, built from the same seed:

- *bank*: ``dfshield.engine.trainer.Trainer`` — the frozen backbone encodes train and val once
  (timed as "extract once"), then ``Trainer.fit`` trains ``--epochs`` epochs on the bank; the
  seconds per epoch are the Trainer's own (``history[i]["seconds"]``: training + validation);
- *re-encode*: the same loss (``detector.build_loss``), optimiser and scheduler
  (``dfshield.optimizers.build_optimizer`` / ``build_scheduler`` from the same YAML), batch size,
  step rule (``optimizer.step(closure)``) and per-epoch validation (``compute_metrics``), but every
  batch of images comes from a DataLoader over the Trainer's own datasets (``Trainer.dataset``:
  same frames, same preprocessing) and goes through ``detector.backbone`` every epoch.

Latent augmentation (``spcup``/``robust_clip``) is switched off in both runs so that both see the
same samples per epoch; checkpoint writing (Trainer only) is included in the bank's seconds.

**--gpu-clip** (meaningful on a GPU): open_clip ViT-L-14 with random weights (``pretrained: null``
— speed does not depend on the weights) encodes ``--clip-images`` random 224×224 images at
``precision: fp32`` and ``bf16``; then one epoch of the ``spcup`` head (``SPCupDetector`` with the
loss, optimiser and scheduler of ``configs/detectors/spcup.yaml``: CVaR(VS) + AUC, SAM around
AdamW) on ``--n-features`` random 768-d features (real:fake 10:1, latent augmentation on, as the
Trainer does: ``augment_features``, shuffled batches of ``feature`` data_dicts, one
``optimizer.step(closure)`` each). On a CPU the ``precision`` option has no effect (autocast is
GPU-only), so both rows are fp32.

    python benchmarks/feature_bank.py                                   # bank vs re-encode, CPU
    python benchmarks/feature_bank.py --gpu-clip --n-features 2000 --device cpu  # path check
    python benchmarks/feature_bank.py --gpu-clip --device cuda          # on a GPU: 250k features
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _common import (
    add_run_options,
    autocast,
    bank_epoch,
    feature_backbone,
    footer,
    make_demo_in_subprocess,
    new_parser,
    random_bank,
    setup,
    sync,
    train_step,
    warm_up,
)
from torch.utils.data import DataLoader

from dfshield.config import config_dir, load_run_config
from dfshield.data import collate
from dfshield.datasets.writer import label_dict_for
from dfshield.detectors import build_detector
from dfshield.engine.batches import batch_bounds
from dfshield.engine.trainer import Trainer
from dfshield.eval.evaluator import amp_dtype
from dfshield.eval.metrics import compute_metrics
from dfshield.optimizers import build_optimizer, build_scheduler
from dfshield.registry import BACKBONE

TINY_BACKBONE = {"name": "clip", "model": "dfshield-tiny-vit", "pretrained": None}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = new_parser(__doc__)
    bank = parser.add_argument_group("bank vs re-encode")
    bank.add_argument(
        "--detector",
        default="clip_linear",
        choices=("clip_linear", "spcup", "robust_clip"),
        help="detector config (configs/detectors/NAME.yaml) with the tiny backbone",
    )
    bank.add_argument("--epochs", type=int, default=3, help="epochs timed on each side")
    bank.add_argument("--batch-size", type=int, default=64, help="samples per step (both sides)")
    bank.add_argument(
        "--train",
        type=int,
        nargs=2,
        default=(600, 60),
        metavar=("REAL", "FAKE"),
        help="demo training images",
    )
    bank.add_argument(
        "--val",
        type=int,
        nargs=2,
        default=(200, 20),
        metavar=("REAL", "FAKE"),
        help="demo validation images",
    )
    bank.add_argument(
        "--size", type=int, default=64, help="demo image size (the tiny ViT takes 64)"
    )
    bank.add_argument(
        "--workers", type=int, default=0, help="DataLoader workers (extraction and re-encode)"
    )
    bank.add_argument("--skip-bank", action="store_true", help="only run the --gpu-clip part")
    gpu = parser.add_argument_group("--gpu-clip")
    gpu.add_argument(
        "--gpu-clip",
        action="store_true",
        help="also time ViT-L/14 extraction (fp32 vs bf16) and one spcup head epoch",
    )
    gpu.add_argument(
        "--clip-model", default="ViT-L-14", help="open_clip model for the extraction timing"
    )
    gpu.add_argument(
        "--clip-images",
        type=int,
        default=None,
        help="random images encoded per precision (default 1024 on a GPU, 8 on a CPU)",
    )
    gpu.add_argument(
        "--clip-batch",
        type=int,
        default=None,
        help="extraction batch size (default 128 on a GPU, 4 on a CPU)",
    )
    gpu.add_argument(
        "--n-features", type=int, default=250_000, help="rows of the random feature bank"
    )
    gpu.add_argument(
        "--head-batch", type=int, default=256, help="spcup head batch size (SP Cup protocol)"
    )
    add_run_options(parser, seed=8079, seed_help="training seed (SP Cup protocol's)")
    args = parser.parse_args(argv)
    if (
        min(
            args.epochs,
            args.batch_size,
            args.clip_images or 1,
            args.clip_batch or 1,
            args.n_features,
            args.head_batch,
        )
        < 1
        or args.workers < 0
    ):
        parser.error("sizes must be >= 1 and --workers >= 0")
    return args


def head_dtype(device: torch.device) -> torch.dtype | None:
    """The trainer's ``train.amp: auto`` for the trained part: bf16 on a GPU that has it, or off."""
    return amp_dtype("auto", device)


# -- bank vs re-encode ---------------------------------------------------------------------------


def make_demo(folder: Path, args: argparse.Namespace) -> None:
    """The demo dataset, made in a fresh process (OpenCV's thread pool stays out of this one, so
    DataLoader workers forked from it cannot hang on it)."""
    counts = {"train": tuple(args.train), "val": tuple(args.val), "test": (0, 0)}
    make_demo_in_subprocess(folder, 0, counts=counts, size=args.size)


def run_config(args: argparse.Namespace, data: Path, output: Path):
    detector = {"backbone": dict(TINY_BACKBONE)}
    if args.detector != "clip_linear":
        detector["latent_beta"] = None  # same samples per epoch on both sides
    layer = {
        "data": {
            "train_datasets": ["DemoFaces"],
            "test_datasets": ["DemoFaces"],
            "json_dir": str(data / "json"),
            "lmdb_dir": str(data / "lmdb"),
            "label_dict": label_dict_for("DemoFaces"),
            "num_workers": args.workers,
        },
        "train": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "device": args.device,
            "progress": False,
            "output_dir": str(output),
        },
        "detector": detector,
    }
    return load_run_config(
        config_dir() / "demo.yaml", args.detector, extra_layers=[("benchmark", layer)]
    )


def image_loader(dataset, args: argparse.Namespace, shuffle: bool, epoch: int) -> DataLoader:
    generator = torch.Generator().manual_seed(args.seed + epoch)
    return DataLoader(
        dataset,
        batch_size=args.batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=args.workers,
        collate_fn=collate,
    )


def reencode_epochs(trainer: Trainer, args: argparse.Namespace) -> list[float]:
    """Seconds per epoch when every batch is encoded by ``detector.backbone`` each epoch."""
    cfg, device, detector = trainer.cfg, trainer.device, trainer.detector
    train_set, val_set = trainer.dataset("train"), trainer.dataset("val")
    detector.build_loss(cfg.loss, class_counts=train_set.class_counts)
    optimizer = build_optimizer(cfg.optimizer, detector)
    steps = math.ceil(len(train_set) / args.batch_size)
    scheduler = build_scheduler(cfg.scheduler, optimizer, epochs=args.epochs, steps_per_epoch=steps)
    dtype = head_dtype(device)
    seconds = []
    for epoch in range(args.epochs):
        started = time.perf_counter()
        torch.manual_seed(args.seed * 1009 + epoch)
        detector.train()
        for batch in image_loader(train_set, args, True, epoch):
            if (
                len(batch["label"]) < 2
            ):  # as the bank's batches: a last batch of 1 is dropped (BatchNorm)
                continue
            features = detector.backbone(train_set.normalizer(batch["image"], device))
            data = {"feature": features, "label": batch["label"].to(device), "image": None}
            train_step(detector, optimizer, data, device, dtype)
            if scheduler.interval == "step":
                scheduler.step()
        if scheduler.interval == "epoch":
            scheduler.step()
        detector.eval()
        scores, labels, videos = [], [], []
        with torch.no_grad():
            for batch in image_loader(val_set, args, False, epoch):
                features = detector.backbone(val_set.normalizer(batch["image"], device))
                with autocast(device, dtype):
                    scores += (
                        detector({"feature": features, "image": None})["prob"]
                        .float()
                        .cpu()
                        .tolist()
                    )
                labels += batch["label"].tolist()
                videos += batch["video_id"]
        compute_metrics(scores, labels, videos, bootstrap=0)
        sync(device)
        seconds.append(time.perf_counter() - started)
    return seconds


def bank_vs_reencode(args: argparse.Namespace, device: torch.device) -> None:
    with tempfile.TemporaryDirectory(prefix="dfshield-bench-bank-") as tmp:
        root = Path(tmp)
        make_demo(root / "data", args)
        cfg = run_config(args, root / "data", root / "runs")
        bank_trainer = Trainer(cfg, root / "runs" / "bank", feature_cache=root / "cache")
        started = time.perf_counter()
        bank_trainer.batches.bank("train")
        bank_trainer.batches.bank("val")
        sync(device)
        extract = time.perf_counter() - started
        bank_trainer.fit()
        bank = [row["seconds"] for row in bank_trainer.history]
        reencode = reencode_epochs(
            Trainer(cfg, root / "runs" / "reencode", feature_cache=root / "cache"), args
        )
        n_train, n_val = len(bank_trainer.dataset("train")), len(bank_trainer.dataset("val"))

    bank_epoch, reencode_epoch = statistics.median(bank), statistics.median(reencode)
    print(
        f"\n== bank vs re-encode: {args.detector}, tiny ViT (64 px, 64-d), {n_train} train + "
        f"{n_val} val images, batch {args.batch_size}, {args.workers} workers, "
        f"{args.epochs} epochs =="
    )
    print(f"{'path':<30}  {'extract once (s)':>16}  {'s/epoch (median)':>16}  per epoch (s)")
    print(
        f"{'bank (Trainer.fit)':<30}  {extract:>16.2f}  {bank_epoch:>16.3f}  "
        f"{' '.join(f'{s:.3f}' for s in bank)}"
    )
    print(
        f"{'re-encode every epoch':<30}  {'-':>16}  {reencode_epoch:>16.3f}  "
        f"{' '.join(f'{s:.3f}' for s in reencode)}"
    )
    print(f"ratio re-encode / bank, per epoch: {reencode_epoch / bank_epoch:.1f}x")
    for epochs in (1, 10, 100):
        total_bank = extract + epochs * bank_epoch
        print(
            f"  {epochs:>3} epochs: bank {total_bank:8.1f} s (extraction included) vs re-encode "
            f"{epochs * reencode_epoch:8.1f} s -> {epochs * reencode_epoch / total_bank:.1f}x"
        )


# -- --gpu-clip -----------------------------------------------------------------------------------


def clip_extraction(args: argparse.Namespace, device: torch.device) -> None:
    rows = []
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(args.clip_batch, 3, 224, 224, generator=generator).to(device)
    for precision in ("fp32", "bf16"):
        started = time.perf_counter()
        backbone = BACKBONE.build(
            {"name": "clip", "model": args.clip_model, "pretrained": None, "precision": precision}
        ).to(device)
        build = time.perf_counter() - started
        if images.shape[-1] != backbone.image_size:
            images = torch.randn(
                args.clip_batch, 3, backbone.image_size, backbone.image_size, generator=generator
            ).to(device)
        backbone(images[:2])  # warm-up: kernels, allocator
        sync(device)
        done, started = 0, time.perf_counter()
        while done < args.clip_images:
            batch = images[: min(args.clip_batch, args.clip_images - done)]
            backbone(batch)
            done += len(batch)
        sync(device)
        rows.append((precision, done / (time.perf_counter() - started), build))
        del backbone
        if device.type == "cuda":
            torch.cuda.empty_cache()
    note = "" if device.type == "cuda" else "  (CPU: precision has no effect, both rows are fp32)"
    print(
        f"\n== CLIP {args.clip_model} (random init) extraction: {args.clip_images} images "
        f"{images.shape[-1]}x{images.shape[-1]}, batch {args.clip_batch} =={note}"
    )
    print(f"{'precision':<10}  {'images/s':>10}  {'build (s)':>9}")
    for precision, rate, build in rows:
        print(f"{precision:<10}  {rate:>10.1f}  {build:>9.1f}")
    print(f"ratio bf16 / fp32: {rows[1][1] / rows[0][1]:.2f}x")


def spcup_head_epoch(args: argparse.Namespace, device: torch.device) -> None:
    cfg = load_run_config(detector="spcup")  # loss, optimizer, scheduler and head as shipped
    with tempfile.TemporaryDirectory(prefix="dfshield-bench-768d-") as tmp:
        torch.manual_seed(args.seed)
        detector = build_detector(
            {**cfg.detector, "backbone": feature_backbone(768, Path(tmp))}
        ).to(device)
    dim = detector.backbone.feature_dim
    n = args.n_features
    features, labels, n_fake = random_bank(n, dim, 10, args.seed, device)  # real:fake 10:1
    detector.build_loss(cfg.loss, class_counts={"real": n - n_fake, "fake": n_fake})
    optimizer = build_optimizer(cfg.optimizer, detector)
    rows = n * detector.feature_copies
    bounds = batch_bounds(rows, args.head_batch)
    scheduler = build_scheduler(cfg.scheduler, optimizer, epochs=1, steps_per_epoch=len(bounds))
    dtype = head_dtype(device)

    def step(data: dict) -> None:
        train_step(detector, optimizer, data, device, dtype)

    detector.train()
    warm_up(step, features, labels, args.head_batch)
    sync(device)
    started = time.perf_counter()
    epoch_generator = torch.Generator(device=device).manual_seed(args.seed)
    bank_epoch(detector, step, scheduler, features, labels, bounds, epoch_generator)
    sync(device)
    seconds = time.perf_counter() - started
    print(
        f"\n== spcup head, one epoch: {n} x {dim} random features "
        f"(real:fake {n - n_fake}:{n_fake}), "
        f"latent augmentation -> {rows} rows, batch {args.head_batch}, "
        f"{cfg.optimizer['name']} around {cfg.optimizer.get('base', {}).get('name')} =="
    )
    print(f"{'steps':>6}  {'s/epoch':>8}  {'steps/s':>8}  {'rows/s':>10}")
    print(
        f"{len(bounds):>6}  {seconds:>8.2f}  {len(bounds) / seconds:>8.1f}  {rows / seconds:>10.0f}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = setup(args)
    if not args.skip_bank:
        bank_vs_reencode(args, device)
    if args.gpu_clip:
        if device.type != "cuda":
            print("\nnote: --gpu-clip without CUDA: the figures below only show that the path runs")
        gpu = device.type == "cuda"
        args.clip_images = args.clip_images or (1024 if gpu else 8)
        args.clip_batch = args.clip_batch or (128 if gpu else 4)
        clip_extraction(args, device)
        spcup_head_epoch(args, device)
    print(footer())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
