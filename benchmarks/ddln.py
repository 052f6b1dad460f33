#!/usr/bin/env python
"""Benchmark: ``ddln`` clips per second (training step and inference) and peak memory
for clips of T = 32 frames at 64×64.

The detector is ``dfshield.detectors.ddln.DDLNDetector`` built through the registry with the
options of ``configs/detectors/ddln.yaml`` (3-layer GRU of 256, α = β = 0.5, loss BCE + WMW,
Adam 1e-4); only the per-frame backbone is chosen here: ``--backbone`` (timm name, default
``resnet50`` as in the paper, ``pretrained: false`` — speed does not depend on the weights;
``resnet10t`` for a quick run). Inputs are random clips ``(B, T, 3, 64, 64)`` with labels
alternating real/fake. A training step is ``optimizer.step(closure)`` with
``detector.get_losses`` (as the Trainer runs it); inference is ``detector(data, inference=True)``
under ``torch.no_grad()`` in eval mode.

Peak memory: on a GPU ``torch.cuda.max_memory_allocated`` per phase (reset between phases). On
a CPU the process's maximum resident set size (``resource.getrusage``, ``ru_maxrss``; it only
grows), read after model building, after inference and after training, which run in that order —
so the training figure is the peak of the whole process; Python-level ``tracemalloc`` is not used
because torch's tensors are not allocated through Python's allocator.

    python benchmarks/ddln.py                              # resnet50, batch 2, CPU-sized run
    python benchmarks/ddln.py --backbone resnet10t --batch-size 4
    python benchmarks/ddln.py --device cuda --batch-size 16 --steps 20
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
from _common import add_run_options, autocast, footer, new_parser, setup, sync, train_step

from dfshield.config import find_detector_config, load_yaml
from dfshield.detectors import build_detector
from dfshield.eval.evaluator import amp_dtype
from dfshield.optimizers import build_optimizer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = new_parser(__doc__)
    parser.add_argument("--backbone", default="resnet50", help="timm model of the per-frame CNN")
    parser.add_argument("--batch-size", type=int, default=2, help="clips per step")
    parser.add_argument("--frames", type=int, default=32, help="frames per clip (T)")
    parser.add_argument(
        "--size", type=int, default=64, help="frame side in pixels (detector.input_size)"
    )
    parser.add_argument("--steps", type=int, default=8, help="timed steps per phase")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before each phase")
    add_run_options(
        parser,
        seed=0,
        seed_help="seed of the weights and the clips",
        amp_help="autocast of training and inference on a GPU (the Trainer's train.amp)",
    )
    args = parser.parse_args(argv)
    if min(args.batch_size, args.frames, args.size, args.steps) < 1 or args.warmup < 0:
        parser.error("sizes and --steps must be >= 1, --warmup >= 0")
    return args


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


class Phase:
    """Times ``steps`` calls and records the phase's peak memory."""

    def __init__(self, device: torch.device):
        self.device = device

    def run(self, fn, warmup: int, steps: int) -> tuple[float, float]:
        for _ in range(warmup):
            fn()
        sync(self.device)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        started = time.perf_counter()
        for _ in range(steps):
            fn()
        sync(self.device)
        seconds = time.perf_counter() - started
        peak = (
            torch.cuda.max_memory_allocated(self.device) / 2**20
            if self.device.type == "cuda"
            else max_rss_mib()
        )
        return seconds, peak


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = setup(args)
    shipped = load_yaml(find_detector_config("ddln"))
    config = {
        **shipped["detector"],
        "input_size": args.size,
        "backbone": {"name": "timm", "model": args.backbone, "pretrained": False, "freeze": False},
    }
    torch.manual_seed(args.seed)
    detector = build_detector(config).to(device)
    detector.build_loss(shipped["loss"])
    optimizer = build_optimizer(shipped["optimizer"], detector)
    dtype = amp_dtype(args.amp, device)
    parameters = sum(p.numel() for p in detector.parameters())
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device) / 2**20
        base_label = "allocated after building (MiB)"
    else:
        base, base_label = max_rss_mib(), "max RSS after building (MiB)"

    generator = torch.Generator().manual_seed(args.seed)
    clips = torch.randn(
        args.batch_size, args.frames, 3, args.size, args.size, generator=generator
    ).to(device)
    labels = (torch.arange(args.batch_size) % 2).to(device)
    data = {"image": clips, "label": labels, "landmark": None, "mask": None}

    def infer() -> None:
        with torch.no_grad(), autocast(device, dtype):
            detector(data, inference=True)["prob"].float().sum().item()

    def train() -> None:
        float(train_step(detector, optimizer, data, device, dtype).detach())

    phase = Phase(device)
    detector.eval()
    infer_s, infer_peak = phase.run(infer, args.warmup, args.steps)
    detector.train()
    train_s, train_peak = phase.run(train, args.warmup, args.steps)

    clips_done = args.steps * args.batch_size
    memory = "peak allocated (MiB)" if device.type == "cuda" else "max RSS (MiB)"
    print(
        f"\nddln: backbone {args.backbone} (random init, "
        f"{parameters / 1e6:.1f} M parameters in all), "
        f"clips {args.batch_size} x T={args.frames} x 3 x {args.size} x {args.size}, "
        f"autocast {dtype or 'off'}, {args.steps} timed step(s) after {args.warmup} warm-up"
    )
    print(f"{base_label}: {base:.0f}")
    print(f"{'phase':<10}  {'clips/s':>8}  {'frames/s':>9}  {'s/step':>7}  {memory:>20}")
    for name, seconds, peak in (
        ("inference", infer_s, infer_peak),
        ("training", train_s, train_peak),
    ):
        rate = clips_done / seconds
        print(
            f"{name:<10}  {rate:>8.2f}  {rate * args.frames:>9.1f}  "
            f"{seconds / args.steps:>7.2f}  {peak:>20.0f}"
        )
    print(
        f"ratio inference / training speed: {(clips_done / infer_s) / (clips_done / train_s):.1f}x"
    )
    print(footer())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
