"""``dfshield demo``: clip_linear, robust_clip and spcup on DemoFaces with tiny random backbones, on
the CPU in minutes; it shows the pipeline works, its numbers say nothing about real deepfakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

DEMO_DETECTORS = ["clip_linear", "robust_clip", "spcup"]
TINY_TIMM = "resnet10t"
# The papers' learning rates (1e-5 for spcup / robust_clip) are tuned for 100 epochs on 260k CLIP
# features; the demo trains 30 epochs on 660 images, so every detector gets the same larger rate.
DEMO_LR = 1e-3


def demo_layer(data_dir: Path) -> tuple[str, dict]:
    """The config layer that points every detector at the demo data."""
    data_dir = Path(data_dir)
    return (
        "dfshield demo",
        {"data": {"json_dir": str(data_dir / "json"), "lmdb_dir": str(data_dir / "lmdb")}},
    )


def small_backbone(backbone: dict) -> dict:
    """The backbone config with a small random-init model of its family (CPU, no download)."""
    from dfshield.backbones.clip import TINY_MODEL  # here: importing it loads torch

    if backbone.get("name") == "clip":
        return {**backbone, "model": TINY_MODEL, "pretrained": None}
    if backbone.get("name") == "timm":
        return {**backbone, "model": TINY_TIMM, "pretrained": False, "checkpoint": None}
    return backbone


def with_learning_rate(optimizer: dict, lr: float) -> dict:
    """The optimizer config with ``lr`` set on the innermost optimiser (SAM's base, or itself)."""
    if "base" in optimizer:
        return {**optimizer, "base": with_learning_rate(optimizer["base"], lr)}
    return {**optimizer, "lr": lr}


def has_demo_data(data_dir: str | Path) -> bool:
    """Whether ``data_dir`` holds the demo dataset (``dfshield demo-data``)."""
    from dfshield.dataset_builder.demo import DEMO_NAME

    return (Path(data_dir) / "json" / f"{DEMO_NAME}.json").is_file()


def run_demo(configs: dict, run_dir: str | Path, overwrite: bool = False) -> list[dict]:
    """:func:`~dfshield.studies.comparison.run_comparison` of the demo configs on one torch thread:
    tiny models lose to thread spinning (2 loaded cores: 444 s with 2 threads, 50 s with one)."""
    import torch

    from dfshield.studies.comparison import run_comparison

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_comparison(configs, Path(run_dir), overwrite=overwrite)
    finally:
        torch.set_num_threads(threads)


def demo_configs(
    data_dir: str | Path, detectors: Sequence[str] = DEMO_DETECTORS, overrides: Sequence[str] = ()
) -> dict:
    """A run config per detector: ``configs/demo.yaml``, demo data, small backbone, ``DEMO_LR``."""
    from dfshield.config import config_dir
    from dfshield.studies.comparison import load_comparison_configs

    configs = load_comparison_configs(
        list(detectors), config_dir() / "demo.yaml", list(overrides), [demo_layer(Path(data_dir))]
    )
    for cfg in configs.values():
        cfg.detector["backbone"] = small_backbone(cfg.detector.get("backbone", {}))
        cfg.optimizer = with_learning_rate(cfg.optimizer, DEMO_LR)
    return configs
