"""Check that the face study's detector configs differ from the shipped ones only where the study says.

* ``configs/experiments/ablation_*.yaml`` must equal ``configs/ablation/ablation_*.yaml`` except for
  ``detector.backbone`` and the learning rate (``optimizer.lr``, or ``optimizer.base.lr`` under SAM);
* ``configs/experiments/linear.yaml`` must equal ``configs/detectors/clip_linear.yaml`` with the same
  two exceptions;
* all six must share one backbone and one learning rate.

Exit status 1 with the differences otherwise. Usage: ``python scripts/experiments/check_configs.py``.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ABLATION = (
    "ablation_bce",
    "ablation_vs",
    "ablation_cvar_vs",
    "ablation_cvar_vs_auc",
    "ablation_cvar_vs_auc_sam",
)
PAIRS = [
    (
        ROOT / "configs" / "ablation" / f"{name}.yaml",
        ROOT / "configs" / "experiments" / f"{name}.yaml",
    )
    for name in ABLATION
]
PAIRS.append(
    (
        ROOT / "configs" / "detectors" / "clip_linear.yaml",
        ROOT / "configs" / "experiments" / "linear.yaml",
    )
)


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _split(cfg: dict) -> tuple[dict, dict, float]:
    """(config without backbone and lr, backbone, lr)."""
    rest = copy.deepcopy(cfg)
    backbone = rest["detector"].pop("backbone")
    holder = rest["optimizer"]["base"] if rest["optimizer"]["name"] == "sam" else rest["optimizer"]
    lr = float(holder.pop("lr"))
    return rest, backbone, lr


def main() -> int:
    problems, backbones, rates = [], [], []
    for shipped, study in PAIRS:
        a, _, _ = _split(_load(shipped))
        b, backbone, lr = _split(_load(study))
        if a != b:
            problems.append(
                f"{study.name} differs from {shipped.relative_to(ROOT)} beyond backbone and lr:\n"
                f"  shipped: {a}\n  study:   {b}"
            )
        backbones.append(backbone)
        rates.append(lr)
    if any(b != backbones[0] for b in backbones):
        problems.append(f"the study configs use different backbones: {backbones}")
    if len(set(rates)) != 1:
        problems.append(f"the study configs use different learning rates: {rates}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(
        f"ok: {len(PAIRS)} study configs = shipped configs except backbone "
        f"({backbones[0]['model']}, frozen) and one learning rate ({rates[0]:g})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
