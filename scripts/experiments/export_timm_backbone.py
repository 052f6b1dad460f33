"""Export the trained timm backbone of a dfshield checkpoint as a plain timm state dict.

A dfshield checkpoint of a detector whose timm backbone was trained end to end (``freeze: false``)
holds the backbone in ``payload["model"]`` under ``backbone.model.*`` (the detector's
``trainable_state_dict``). This script strips that prefix, saves the tensors with
``torch.save(state_dict, OUT)`` — the format the timm backbone's ``checkpoint`` option reads with
``weights_only=True`` — and checks the result: a ``TimmBackbone(checkpoint=OUT, freeze=True)``
must give the same features as the detector rebuilt from the checkpoint, on random images.

Usage::

    python scripts/experiments/export_timm_backbone.py RUN/checkpoints/best.pt OUT.pth

Writes ``OUT.pth`` and ``OUT.json`` (where the weights came from: checkpoint, epoch, validation
value, timm model, image size).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

PREFIX = "backbone.model."


def main(argv: list[str] | None = None) -> int:
    from dfshield.backbones.timm import TimmBackbone
    from dfshield.detectors import build_detector
    from dfshield.engine.checkpoint import load_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="dfshield checkpoint (e.g. best.pt)")
    parser.add_argument("out", type=Path, help="output .pth file")
    args = parser.parse_args(argv)

    payload = load_checkpoint(args.checkpoint)
    detector_cfg = payload["config"]["detector"]
    backbone_cfg = dict(detector_cfg.get("backbone") or {})
    if backbone_cfg.get("name") != "timm":
        sys.exit(
            f"{args.checkpoint}: the backbone is {backbone_cfg.get('name')!r}, not a timm backbone"
        )
    state = {
        key[len(PREFIX) :]: value
        for key, value in payload["model"].items()
        if key.startswith(PREFIX)
    }
    if not state:
        sys.exit(
            f"{args.checkpoint} holds no '{PREFIX}*' weights: was the backbone frozen "
            f"(frozen backbones are not saved in checkpoints)?"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, args.out)

    # check: the exported file reproduces the trained backbone's features exactly
    detector = build_detector(detector_cfg)
    detector.load_trainable_state_dict(payload["model"])
    detector.eval()
    frozen = TimmBackbone(
        model=backbone_cfg["model"],
        pretrained=False,
        freeze=True,
        checkpoint=str(args.out),
        image_size=backbone_cfg.get("image_size"),
    )
    size = frozen.image_size
    images = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = detector.backbone(images)
        got = frozen(images)
    if not torch.allclose(expected, got, atol=1e-5, rtol=1e-5):
        sys.exit(
            f"exported weights do not reproduce the checkpoint's features "
            f"(max difference {float((expected - got).abs().max()):.3g})"
        )

    info = {
        "source_checkpoint": str(args.checkpoint.resolve()),
        "epoch": payload.get("epoch"),
        "best_epoch": payload.get("best_epoch"),
        "best_value": payload.get("best_value"),
        "selection_metric": payload["config"]["train"]["selection_metric"],
        "timm_model": backbone_cfg["model"],
        "image_size": size,
        "feature_dim": frozen.feature_dim,
        "tensors": len(state),
        "parameters": int(sum(v.numel() for v in state.values())),
    }
    args.out.with_suffix(".json").write_text(json.dumps(info, indent=1))
    print(
        f"wrote {args.out} ({info['tensors']} tensors, {info['parameters']:,} values; "
        f"epoch {info['epoch']}, validation {info['selection_metric']} {info['best_value']}); "
        f"features match the checkpoint's backbone"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
