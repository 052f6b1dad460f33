#!/usr/bin/env python
"""Benchmark: seconds per training epoch on the feature bank vs re-encoding
every image every epoch; with ``--gpu-clip``, CLIP ViT-L/14 extraction speed in fp32 vs bf16 and
one epoch of ``spcup`` head training on 250k × 768 features; with ``--head-ratio``, that epoch
against a plain PyTorch loop on the same features.

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
``precision: fp32`` and ``bf16``; then one epoch of the ``spcup`` head (below). On a CPU the
``precision`` option has no effect (autocast is GPU-only), so both rows are fp32.

**The spcup head epoch** (``--gpu-clip`` or ``--head-ratio``), twice: as ``Trainer.fit`` runs it
(``train.epochs: 1``; the Trainer's batch source given the random bank instead of encoding one;
its seconds are the Trainer's own, validation on a 4,096-row bank and checkpoints included),
and as the loop below: ``SPCupDetector`` with the loss,
optimiser and scheduler of ``configs/detectors/spcup.yaml`` (CVaR(VS) + AUC, SAM around AdamW) on
``--n-features`` random 768-d features (real:fake 10:1), latent augmentation on, run as the Trainer
runs an epoch: ``augment_features``, shuffled batches of ``feature`` data_dicts, each step a
``dfshield.engine.steps.TrainStep`` (captured as a CUDA graph on a GPU with ``--capture auto``),
the losses kept on the device and read once at the end (``EpochLosses``).

**--head-ratio**: the same epoch against the plain PyTorch loop of the GPU-speed issue, on the
same rows (the latent-augmented bank, made once, untimed): a DataLoader over CPU tensors
(``shuffle=True``), an MLP 768→512→256→1 without BatchNorm or dropout, plain BCE, SAM (ρ = 0.1)
written inline around AdamW; on a GPU also the same loop with the rows already on the device;
and the loop with spcup's own MLP (BatchNorm, dropout, 768 wide: 3.4× the multiply-adds), whose
ratio isolates the cost of the loss and the step. The ratio plain loop / spcup head is printed
(the issue's target on a GPU: ≥ 4×; on a CPU both are bound by arithmetic).

    python benchmarks/feature_bank.py                                   # bank vs re-encode, CPU
    python benchmarks/feature_bank.py --skip-bank --head-ratio --device cpu  # 4k features, CPU
    python benchmarks/feature_bank.py --gpu-clip --n-features 2000 --device cpu  # path check
    python benchmarks/feature_bank.py --gpu-clip --head-ratio --device cuda  # GPU: 250k features
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from _common import (
    add_run_options,
    bank_epoch,
    feature_backbone,
    footer,
    make_demo_in_subprocess,
    new_parser,
    random_bank,
    record,
    setup,
    sync,
    trainer_capture,
    warm_up,
)
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dfshield.config import config_dir, load_run_config
from dfshield.data import collate
from dfshield.dataset_builder.layout import label_dict_for
from dfshield.detectors import build_detector
from dfshield.detectors.heads import mlp_head
from dfshield.detectors.latent_augment import latent_augment
from dfshield.engine.batch_sources import BankBatches, batch_bounds
from dfshield.engine.feature_bank import FeatureBank
from dfshield.engine.steps import CAPTURE_MODES, WARMUP_STEPS, EpochLosses, TrainStep, capture_mode
from dfshield.engine.trainer import Trainer
from dfshield.eval.evaluator import Evaluator, amp_dtype
from dfshield.eval.metrics import compute_metrics
from dfshield.optimizers import build_optimizer, build_scheduler
from dfshield.registry import BACKBONE
from dfshield.seeding import epoch_seed

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
        "--head-ratio",
        action="store_true",
        help="time the spcup head epoch against a plain PyTorch loop on the same features",
    )
    gpu.add_argument(
        "--n-features",
        type=int,
        default=None,
        help="rows of the random feature bank (default 250,000 on a GPU, 4,000 on a CPU)",
    )
    gpu.add_argument(
        "--head-batch", type=int, default=256, help="spcup head batch size (SP Cup protocol)"
    )
    gpu.add_argument(
        "--capture",
        default="auto",
        choices=CAPTURE_MODES,
        help="train.capture of the spcup head step (auto: a CUDA graph on a GPU)",
    )
    add_run_options(parser, seed=8079, seed_help="training seed (SP Cup protocol's)")
    args = parser.parse_args(argv)
    if (
        min(
            args.epochs,
            args.batch_size,
            args.clip_images or 1,
            args.clip_batch or 1,
            args.n_features or 1,
            args.head_batch,
        )
        < 1
        or args.workers < 0
    ):
        parser.error("sizes must be >= 1 and --workers >= 0")
    return args


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
    step = TrainStep(detector, detector, optimizer, amp_dtype=None)  # the Trainer's head step
    seconds = []
    for epoch in range(args.epochs):
        started = time.perf_counter()
        torch.manual_seed(epoch_seed(args.seed, epoch))
        detector.train()
        for batch in image_loader(train_set, args, True, epoch):
            if (
                len(batch["label"]) < 2
            ):  # as the bank's batches: a last batch of 1 is dropped (BatchNorm)
                continue
            features = detector.backbone(train_set.normalizer(batch["image"], device))
            data = {"feature": features, "label": batch["label"].to(device), "image": None}
            step(data)
            if scheduler.interval == "step":
                scheduler.step()
        if scheduler.interval == "epoch":
            scheduler.step()
        detector.eval()
        scores, labels, videos = [], [], []
        with torch.no_grad():
            for batch in image_loader(val_set, args, False, epoch):
                features = detector.backbone(val_set.normalizer(batch["image"], device))
                data = {"feature": features, "image": None}
                scores += detector(data)["prob"].float().cpu().tolist()  # fp32, as the evaluator
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


def spcup_head_epoch(
    args: argparse.Namespace, device: torch.device, features: torch.Tensor, labels: torch.Tensor
) -> tuple[float, int, str]:
    """Seconds of one spcup head epoch as the Trainer runs it, its steps and the capture used."""
    cfg = load_run_config(detector="spcup")  # loss, optimizer, scheduler and head as shipped
    with tempfile.TemporaryDirectory(prefix="dfshield-bench-768d-") as tmp:
        torch.manual_seed(args.seed)
        detector = build_detector(
            {**cfg.detector, "backbone": feature_backbone(features.shape[1], Path(tmp))}
        ).to(device)
    n_fake = int(labels.sum())
    detector.build_loss(cfg.loss, class_counts={"real": len(labels) - n_fake, "fake": n_fake})
    optimizer = build_optimizer(cfg.optimizer, detector)
    bounds = batch_bounds(len(labels) * detector.feature_copies, args.head_batch)
    scheduler = build_scheduler(cfg.scheduler, optimizer, epochs=1, steps_per_epoch=len(bounds))
    capture = capture_mode(args.capture, device, detector, optimizer)
    step = TrainStep(detector, detector, optimizer, amp_dtype("auto", device), capture)
    detector.train()
    warm_up(step, features, labels, args.head_batch, steps=WARMUP_STEPS + 2)  # incl. capture
    sync(device)
    started = time.perf_counter()
    losses = EpochLosses(len(bounds))
    generator = torch.Generator(device=device).manual_seed(args.seed)
    bank_epoch(
        detector,
        lambda data: losses.add(step(data)),
        scheduler,
        features,
        labels,
        bounds,
        generator,
    )
    losses.read()  # the epoch's one host read (waits for the device)
    return time.perf_counter() - started, len(bounds), step.capture


class GivenBanks(BankBatches):
    """The Trainer's feature-bank batch source with its banks given instead of encoded from
    frames: the batches, validation and checkpoints stay the Trainer's own."""

    def __init__(self, trainer: Trainer, banks: dict[str, FeatureBank]):
        super().__init__(
            trainer.detector, trainer.splits, trainer.cfg, trainer.device, trainer.dist
        )
        self.given = banks

    def encode(self, split: str) -> FeatureBank:
        return self.given[split]

    def dataset(self, split: str):
        labels = self.given[split].labels
        fake = int(labels.sum())
        return SimpleNamespace(class_counts={"real": len(labels) - fake, "fake": fake})


def random_feature_bank(features: torch.Tensor, labels: torch.Tensor) -> FeatureBank:
    """A bank of the given rows, one row a video (random labels: a video's frames share one)."""
    names = [f"video-{i}" for i in range(len(labels))]
    return FeatureBank(features, labels, names, names)


def trainer_head_epoch(
    args: argparse.Namespace, device: torch.device, features: torch.Tensor, labels: torch.Tensor
) -> tuple[float, int, str]:
    """Seconds of one spcup head epoch run by ``Trainer.fit`` (its own ``history`` seconds:
    steps, validation, checkpoints), its steps and the capture it used."""
    with tempfile.TemporaryDirectory(prefix="dfshield-bench-trainer-") as tmp:
        root = Path(tmp)
        train = {
            "epochs": 1,
            "device": args.device,
            "seed": args.seed,
            "batch_size": args.head_batch,
            "capture": args.capture,
            "progress": False,
            "output_dir": str(root),
        }
        backbone = feature_backbone(features.shape[1], root)
        layer = {"train": train, "detector": {"backbone": backbone}}
        cfg = load_run_config(detector="spcup", extra_layers=[("benchmark", layer)])
        trainer = Trainer(cfg, root / "run")
        val_rows, val_labels, _ = random_bank(4096, features.shape[1], 10, args.seed + 1, device)
        val = random_feature_bank(val_rows, val_labels)
        train_bank = random_feature_bank(features, labels)
        trainer.batches = GivenBanks(trainer, {"train": train_bank, "val": val, "test": val})
        trainer.evaluator = Evaluator(trainer.detector, trainer.batches, trainer.amp_dtype)
        summary = trainer.fit()
        sync(trainer.device)
    return (
        trainer.history[0]["seconds"],
        trainer.batches.steps_per_epoch(),
        trainer_capture(summary, trainer.history),
    )


def plain_loop_epoch(
    args: argparse.Namespace,
    device: torch.device,
    rows: torch.Tensor,
    labels: torch.Tensor,
    spcup_network: bool = False,
) -> float:
    """Seconds of one epoch of the issue's reference loop over ``rows`` (CPU tensors through a
    DataLoader, or tensors already on ``device``): MLP 768→512→256→1 without BatchNorm or
    dropout, BCE, SAM (ρ = 0.1) inline around AdamW (lr 1e-5, weight decay 6e-5). With
    ``spcup_network`` the MLP is spcup's (3 × [Linear 768→768, BN, ReLU, Dropout] → 1: 3.4× the
    multiply-adds), so that the difference to the spcup head is the loss and the step alone."""
    torch.manual_seed(args.seed)
    dim = rows.shape[1]
    if spcup_network:
        model = mlp_head(dim, dim, 3, 0.335, "relu").to(device)
    else:
        model = nn.Sequential(
            nn.Linear(dim, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 1)
        ).to(device)
    params = list(model.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-5, weight_decay=6e-5)
    generator = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(
        TensorDataset(rows, labels.float()),
        batch_size=args.head_batch,
        shuffle=True,
        generator=generator if rows.device.type == "cpu" else None,
    )

    def loss_at(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = F.binary_cross_entropy_with_logits(model(x).squeeze(1), y)
        loss.backward()
        return loss

    def epoch(batches) -> None:
        for x, y in batches:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            optimizer.zero_grad()
            loss_at(x, y)
            with torch.no_grad():
                norm = torch.stack([p.grad.norm() for p in params]).norm()
                moves = [p.grad * (0.1 / (norm + 1e-12)) for p in params]
                for p, move in zip(params, moves):
                    p.add_(move)
            optimizer.zero_grad()
            loss_at(x, y)
            with torch.no_grad():
                for p, move in zip(params, moves):
                    p.sub_(move)
            optimizer.step()

    if rows.device.type == "cpu":
        batches = loader
    else:  # rows on the device: a shuffled order, no DataLoader
        order = torch.randperm(len(rows), device=rows.device)
        batches = (
            (rows[order[i : i + args.head_batch]], labels[order[i : i + args.head_batch]].float())
            for i in range(0, len(rows), args.head_batch)
        )
    first = (rows[: args.head_batch], labels[: args.head_batch].float())
    epoch([first, first])  # warm-up: kernels, allocator
    sync(device)
    started = time.perf_counter()
    epoch(batches)
    sync(device)
    return time.perf_counter() - started


def head_epochs(args: argparse.Namespace, device: torch.device) -> None:
    """The spcup head epoch and, with ``--head-ratio``, the plain loop on the same rows."""
    n = args.n_features
    features, labels, n_fake = random_bank(n, 768, 10, args.seed, device)  # real:fake 10:1
    trainer_s, trainer_steps, trainer_mode = trainer_head_epoch(args, device, features, labels)
    seconds, steps, capture = spcup_head_epoch(args, device, features, labels)
    rows_n = 2 * n  # latent augmentation
    table = [
        (f"spcup head, Trainer.fit epoch (capture {trainer_mode})", trainer_s, trainer_steps),
        (f"spcup head, benchmark loop (capture {capture})", seconds, steps),
    ]
    keys = ["trainer_epoch_s", "loop_epoch_s"]
    if args.head_ratio:
        generator = torch.Generator(device=device).manual_seed(args.seed)
        rows, row_labels = latent_augment(features, labels, "random", generator)
        plain_steps = math.ceil(len(rows) / args.head_batch)
        table.append(
            (
                "plain loop, DataLoader over CPU tensors",
                plain_loop_epoch(args, device, rows.cpu(), row_labels.cpu()),
                plain_steps,
            )
        )
        keys.append("plain_loop_s")
        if device.type == "cuda":
            table.append(
                (
                    "plain loop, rows on the GPU",
                    plain_loop_epoch(args, device, rows, row_labels),
                    plain_steps,
                )
            )
            keys.append("plain_loop_on_device_s")
        table.append(
            (
                "plain loop, CPU tensors, spcup's MLP",
                plain_loop_epoch(args, device, rows.cpu(), row_labels.cpu(), spcup_network=True),
                plain_steps,
            )
        )
        keys.append("plain_loop_spcup_mlp_s")
    print(
        f"\n== spcup head, one epoch: {n} x 768 random features (real:fake {n - n_fake}:{n_fake}), "
        f"latent augmentation -> {rows_n} rows, batch {args.head_batch}, SAM around AdamW =="
    )
    print(f"{'what':<52}  {'s/epoch':>8}  {'steps/s':>8}  {'rows/s':>10}")
    for what, took, count in table:
        print(f"{what:<52}  {took:>8.2f}  {count / took:>8.1f}  {rows_n / took:>10.0f}")
    figures: dict = {key: took for key, (_, took, _) in zip(keys, table)}
    figures.update(trainer_capture=trainer_mode, loop_capture=capture, steps=trainer_steps)
    if args.head_ratio:
        plain = figures["plain_loop_s"]
        print(
            f"ratio plain loop (DataLoader over CPU tensors) / spcup head (Trainer epoch): "
            f"{plain / trainer_s:.2f}x, / benchmark loop: {plain / seconds:.2f}x "
            f"(target on a GPU: >= 4x)\n"
            f"ratio plain loop with spcup's MLP / spcup head (benchmark loop): "
            f"{table[-1][1] / seconds:.2f}x (same network: what the loss, SAM and the step cost "
            f"or save)"
        )
        figures.update(plain_over_trainer_epoch=plain / trainer_s, plain_over_loop=plain / seconds)
    record(**figures)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = setup(args)
    if not args.skip_bank:
        bank_vs_reencode(args, device)
    gpu = device.type == "cuda"
    args.n_features = args.n_features or (250_000 if gpu else 4_000)
    if args.gpu_clip:
        if not gpu:
            print("\nnote: --gpu-clip without CUDA: the figures below only show that the path runs")
        args.clip_images = args.clip_images or (1024 if gpu else 8)
        args.clip_batch = args.clip_batch or (128 if gpu else 4)
        clip_extraction(args, device)
    if args.gpu_clip or args.head_ratio:
        head_epochs(args, device)
    print(footer())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
