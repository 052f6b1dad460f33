#!/usr/bin/env python
"""Check (not a timing): every documented ``train.device`` value resolves, and a Trainer runs
with ``train.device: --device``.

First a table: ``auto``, ``cpu``, ``cuda``, ``cuda:0`` and ``cuda`` under ``torchrun``
(``LOCAL_RANK=0``) as :func:`dfshield.distributed.prepare_device` resolves them (the
device made current) or the error it gives (on a machine without CUDA, the GPU values must say
that CUDA is not available). Then one epoch of ``clip_linear`` with the tiny random ViT on a
small DemoFaces set through ``dfshield.engine.trainer.Trainer`` with ``train.device`` set to
``--device`` exactly as given (``cuda`` without an index crashed in ``torch.cuda.set_device``
before dfshield gave it the index).

    python benchmarks/device.py                  # auto
    python benchmarks/device.py --device cuda
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from _common import (
    add_run_options,
    footer,
    make_demo_in_subprocess,
    new_parser,
    record,
    setup,
    sync,
    trainer_capture,
)

from dfshield.config import config_dir, load_run_config
from dfshield.dataset_builder.layout import label_dict_for
from dfshield.distributed import prepare_device
from dfshield.engine.trainer import Trainer
from dfshield.errors import ConfigError

VALUES = (("auto", None), ("cpu", None), ("cuda", None), ("cuda:0", None), ("cuda", "0"))
TINY_BACKBONE = {"name": "clip", "model": "dfshield-tiny-vit", "pretrained": None}


def resolution_table() -> None:
    print(f"\n{'train.device':<14}  {'LOCAL_RANK':>10}  resolves to")
    for value, local_rank in VALUES:
        previous = os.environ.pop("LOCAL_RANK", None)
        if local_rank is not None:
            os.environ["LOCAL_RANK"] = local_rank
        try:
            outcome = str(prepare_device(value)[0])
        except ConfigError as error:
            outcome = f"ConfigError: {error}"
        finally:
            os.environ.pop("LOCAL_RANK", None)
            if previous is not None:
                os.environ["LOCAL_RANK"] = previous
        print(f"{value:<14}  {local_rank or '-':>10}  {outcome}")


def one_epoch(name: str, seed: int) -> None:
    with tempfile.TemporaryDirectory(prefix="dfshield-bench-device-") as tmp:
        root = Path(tmp)
        # the Trainer checks every split, test included, before it trains
        counts = {"train": (40, 8), "val": (16, 4), "test": (8, 2)}
        make_demo_in_subprocess(root / "data", seed, counts=counts)
        layer = {
            "data": {
                "json_dir": str(root / "data" / "json"),
                "lmdb_dir": str(root / "data" / "lmdb"),
                "label_dict": label_dict_for("DemoFaces"),
            },
            "train": {"epochs": 1, "device": name, "progress": False, "output_dir": str(root)},
            "detector": {"backbone": dict(TINY_BACKBONE)},
        }
        cfg = load_run_config(
            config_dir() / "demo.yaml", "clip_linear", extra_layers=[("benchmark", layer)]
        )
        started = time.perf_counter()
        trainer = Trainer(cfg, root / "run", feature_cache=root / "cache")
        result = trainer.fit()
        sync(trainer.device)
        seconds = time.perf_counter() - started
    print(
        f"\nTrainer with train.device: {name!r} -> {trainer.device}: one epoch of clip_linear "
        f"(tiny ViT, 48 + 20 images, extraction included) in {seconds:.1f} s, "
        f"val AUC {result['best_val_auc']:.3f}"
    )
    record(
        works=True,
        trainer_device=str(trainer.device),
        epoch_s=seconds,
        capture=trainer_capture(result, trainer.history),
    )


def main(argv: list[str] | None = None) -> int:
    parser = new_parser(__doc__)
    add_run_options(parser, seed=0, seed_help="seed of the demo data", threads=False)
    args = parser.parse_args(argv)
    setup(args)
    resolution_table()
    one_epoch(args.device, args.seed)
    print(footer())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
