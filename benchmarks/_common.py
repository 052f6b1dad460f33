"""Pieces shared by the benchmark scripts in this folder (not a benchmark itself).

The scripts are run as ``python benchmarks/NAME.py``, which puts this folder on ``sys.path``, so
they import this module as ``_common``. It holds the command-line options every script has
(``--device``, ``--threads``, ``--seed``, ``--amp``), the header and the closing load-average
line every script prints, the device set-up, and the pieces of a Trainer-style epoch on a feature
bank (random bank, batch bounds, ``optimizer.step(closure)`` step, shuffled epoch) used by
``rdaa.py`` and ``feature_bank.py``, and :func:`record`, the named figures that
``benchmarks/gpu.sh`` gathers into its JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import multiprocessing
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from dfshield.distributed import DEVICE_CHOICES, resolve_device
from dfshield.errors import ConfigError

#: the named figures of this run (:func:`record`); ``gpu_rows.py`` writes them into gpu.sh's JSON
RESULTS: dict[str, Any] = {}


def record(**figures: Any) -> None:
    """Keep figures of this run under their names, for ``benchmarks/gpu.sh``'s JSON (a script run
    on its own only prints them)."""
    RESULTS.update(figures)


def trainer_capture(summary: dict[str, Any], history: list[dict[str, Any]]) -> str:
    """The capture mode a Trainer's run used, from its summary (``Trainer.fit``'s result) or its
    last log row; ``unreported`` where the Trainer records none."""
    return str(
        summary.get("capture") or (history[-1].get("capture") if history else None) or "unreported"
    )


# -- command line, header, set-up -----------------------------------------------------------------


def new_parser(doc: str) -> argparse.ArgumentParser:
    """The script's parser: the docstring's first paragraph as description, defaults in --help."""
    return argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )


def add_run_options(
    parser,
    *,
    seed: int,
    seed_help: str,
    device_help: str = "where to run",
    threads: bool = True,
    amp_help: str | None = None,
) -> None:
    """Add ``[--amp] --device [--threads] --seed`` to ``parser`` (a parser or an argument group)."""
    if amp_help is not None:
        parser.add_argument(
            "--amp", default="auto", choices=("auto", "bf16", "none"), help=amp_help
        )
    parser.add_argument("--device", default="auto", help=f"{device_help}: {DEVICE_CHOICES}")
    if threads:
        parser.add_argument(
            "--threads",
            type=int,
            default=None,
            help="torch intra-op threads (default: torch's choice, one per core)",
        )
    parser.add_argument("--seed", type=int, default=seed, help=seed_help)


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def header(device: torch.device) -> str:
    """Command line, date, host, ``nproc``, load average, torch version, device and threads."""
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    return (
        f"command: {shlex.join(['python', *sys.argv])}\n"
        f"date: {datetime.datetime.now().isoformat(timespec='seconds')}  host: {platform.node()}  "
        f"nproc: {os.cpu_count()}  load average (1/5/15 min): {load_average()}\n"
        f"torch {torch.__version__}  device: {device}{gpu}  "
        f"torch threads: {torch.get_num_threads()}"
    )


def footer() -> str:
    """The line every script prints last."""
    return f"\nload average at the end: {load_average()}"


def device_of(name: str) -> torch.device:
    """``--device`` resolved as the Trainer resolves ``train.device`` (``cuda`` gets its index);
    a value it does not accept ends the script with the reason."""
    try:
        return resolve_device(name)
    except ConfigError as error:
        raise SystemExit(f"--device: {error}") from None


def setup(args: argparse.Namespace) -> torch.device:
    """Resolve ``--device`` (:func:`device_of`), apply ``--threads``, print the header."""
    device = device_of(args.device)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    print(header(device))
    return device


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so that a clock read after it is meaningful."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_demo_in_subprocess(folder: Path, seed: int, **kwargs: Any) -> None:
    """``make_demo_dataset(folder, seed, **kwargs)`` in a fresh process: generating uses OpenCV's
    thread pool, and a DataLoader worker forked from a process that has used it can hang in
    ``cv2.setNumThreads`` (``make_loader``'s worker init)."""
    from dfshield.dataset_builder.demo import make_demo_dataset

    process = multiprocessing.get_context("spawn").Process(
        target=make_demo_dataset, args=(folder, seed), kwargs=kwargs
    )
    process.start()
    process.join()
    if process.exitcode != 0:
        raise SystemExit(f"generating the demo dataset failed (exit code {process.exitcode})")


#: name of the dataset :func:`bench_dataset` writes
BENCH_NAME = "BenchFaces"


def bench_dataset(
    folder: Path, frames: int, *, size: int = 256, unique: int = 512, seed: int = 0
) -> tuple[Path, Path, str]:
    """A ``train`` split of ``frames`` PNG frames of ``size``² pixels in DeepfakeBench format under
    ``folder`` (DeepfakeBench's face crops are 256²): ``unique`` DemoFaces frames (8 a video,
    real:fake about 10:1) generated once, then their PNG bytes stored again under new video names
    until there are ``frames`` — generating every frame would take minutes, and a loader decodes
    a copy as slowly as the original. Returns ``(json_dir, lmdb_dir, name)``."""
    from dfshield.data import DataConfig, DeepfakeDataset
    from dfshield.dataset_builder.dataset_writer import DatasetWriter
    from dfshield.dataset_builder.layout import label_dict_for

    videos = max(2, math.ceil(min(unique, frames) / 8))
    fake = max(1, round(videos / 11))
    source = folder / "unique"
    counts = {"train": (videos - fake, fake), "val": (0, 0), "test": (0, 0)}
    make_demo_in_subprocess(source, seed, counts=counts, size=size, frames_per_video=8)
    cfg = DataConfig(
        train_datasets=["DemoFaces"],
        json_dir=str(source / "json"),
        lmdb_dir=str(source / "lmdb"),
        label_dict=label_dict_for("DemoFaces"),
    )
    demo = DeepfakeDataset(cfg, "train", augment=False)
    store, written, copy = demo.store("DemoFaces"), 0, 0
    with DatasetWriter(folder, BENCH_NAME, overwrite=True) as writer:
        while written < frames:
            for record in demo.records:
                keys = record.frames[: frames - written]
                if not keys:
                    break
                data = [(i, store.get(key, dataset="DemoFaces")) for i, key in enumerate(keys)]
                label = "fake" if record.label else "real"
                writer.add_video(f"{record.video_name}-{copy}", label, data, split="train")
                written += len(keys)
            copy += 1
    return folder / "json", folder / "lmdb", BENCH_NAME


def bench_data(
    data: Path | None,
    scratch: Path,
    frames: int,
    *,
    dataset: str | None = None,
    size: int = 256,
    unique: int = 512,
    seed: int = 0,
) -> tuple[Path, Path, str]:
    """``(json_dir, lmdb_dir, name)`` of a benchmark's data: ``data`` holding ``json/`` and
    ``lmdb/`` (its only dataset, unless ``dataset`` names one); when ``data`` is None or not made
    yet, :func:`bench_dataset` writes ``frames`` frames into it (kept, for the next script) or
    into ``scratch``."""
    if data is not None and (data / "json").is_dir():
        if dataset is None:
            stems = sorted(p.stem for p in (data / "json").glob("*.json"))
            if len(stems) != 1:
                raise SystemExit(
                    f"--dataset is needed: {data / 'json'} holds {len(stems)} dataset JSONs "
                    f"({', '.join(stems) or 'none'})"
                )
            dataset = stems[0]
        return data / "json", data / "lmdb", dataset
    started = time.perf_counter()
    made = bench_dataset(data or scratch, frames, size=size, unique=unique, seed=seed)
    print(
        f"made {frames} frames of {size}x{size} ({min(unique, frames)} distinct DemoFaces frames, "
        f"repeated) in {time.perf_counter() - started:.1f} s in {data or scratch}"
    )
    return made


# -- training steps --------------------------------------------------------------------------------


def autocast(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` to ``dtype`` on ``device``; off when ``dtype`` is None."""
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def train_step(detector, optimizer, data: dict, device: torch.device, dtype: torch.dtype | None):
    """One step as the Trainer takes it: ``optimizer.step(closure)``, the closure computing
    ``detector.get_losses(...)["overall"]`` under autocast and back-propagating it. Returns the
    loss tensor the optimiser returns (not synchronised: call ``float`` on it to wait)."""

    def closure() -> torch.Tensor:
        with autocast(device, dtype):
            loss = detector.get_losses(data, detector(data))["overall"]
        loss.backward()
        return loss

    optimizer.zero_grad(set_to_none=True)
    return optimizer.step(closure)


# -- feature bank ----------------------------------------------------------------------------------


def feature_backbone(dim: int, folder: Path) -> dict:
    """A backbone config whose ``feature_dim`` is ``dim``, cheap to build: a one-layer random ViT
    registered with open_clip from a JSON file in ``folder``. The head benchmarks never run it
    (features come from the random bank); the detector only reads its ``feature_dim``."""
    import open_clip

    name = f"dfshield-bench-{dim}d"
    (folder / f"{name}.json").write_text(
        json.dumps(
            {
                "embed_dim": dim,
                "vision_cfg": {
                    "image_size": 32,
                    "layers": 1,
                    "width": 64,
                    "head_width": 32,
                    "patch_size": 16,
                },
                "text_cfg": {
                    "context_length": 77,
                    "vocab_size": 49408,
                    "width": 64,
                    "heads": 2,
                    "layers": 1,
                },
            }
        )
    )
    open_clip.add_model_config(folder / f"{name}.json")
    return {"name": "clip", "model": name, "pretrained": None}


def random_bank(
    n: int, dim: int, imbalance: float, seed: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``n`` random ``dim``-d features on ``device`` and labels real:fake ``imbalance``:1 (at least
    one fake, placed at random); returns ``(features, labels, n_fake)``."""
    n_fake = max(1, round(n / (imbalance + 1)))
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n, dim, generator=generator).to(device)
    labels = torch.zeros(n, dtype=torch.long)
    labels[torch.randperm(n, generator=generator)[:n_fake]] = 1
    return features, labels.to(device), n_fake


def warm_up(
    step: Callable[[dict], Any],
    features: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    steps: int = 2,
) -> None:
    """Untimed steps on random batches of the bank (kernels, allocator)."""
    for _ in range(steps):
        index = torch.randint(0, len(features), (batch_size,), device=features.device)
        step({"feature": features[index], "label": labels[index], "image": None})


def bank_epoch(
    detector,
    step: Callable[[dict], Any],
    scheduler,
    features: torch.Tensor,
    labels: torch.Tensor,
    bounds: list[tuple[int, int]],
    generator: torch.Generator,
) -> list:
    """One epoch as the Trainer runs it on a bank: ``detector.augment_features``, a shuffled order,
    ``step`` on each batch of ``feature`` data_dicts, the scheduler stepped per step or per epoch.
    Returns what ``step`` returned for each batch."""
    bank, bank_labels = detector.augment_features(features, labels, generator)
    order = torch.randperm(len(bank_labels), generator=generator, device=features.device)
    results = []
    for start, stop in bounds:
        index = order[start:stop]
        results.append(step({"feature": bank[index], "label": bank_labels[index], "image": None}))
        if scheduler.interval == "step":
            scheduler.step()
    if scheduler.interval == "epoch":
        scheduler.step()
    return results
