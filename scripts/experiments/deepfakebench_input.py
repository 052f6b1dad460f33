"""How far what a backbone sees through DeepfakeBench's loader + the registered class departs
from what dfshield's own loader gives it, by source crop size and their ``resolution``
(docs/deepfakebench.md, "Input equivalence"). A random-init ViT-B-32 (input 224, no download).

    PYTHONPATH=. python scripts/experiments/deepfakebench_input.py FACES_DIR  # *.jpg / *.png crops
"""

import sys
from pathlib import Path

import cv2
import torch

from dfshield.detectors import build_detector
from dfshield.integrations.deepfakebench import backbone_input
from dfshield.scoring.scorer import frame_preprocessor

faces = sorted(p for p in Path(sys.argv[1]).rglob("*") if p.suffix in (".jpg", ".png"))[:8]
detector = build_detector(
    {"name": "spcup", "backbone": {"name": "clip", "model": "ViT-B-32", "pretrained": None}}
)
spec, size = detector.input_spec(), detector.backbone.image_size
grey = 1 / 255 / torch.tensor(detector.backbone.std)[:, None, None]
for resolution in (256, size):
    for crop in (128, size, 256, 320):
        diffs = []
        for path in faces:
            face = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            image = cv2.resize(face, (crop, crop), interpolation=cv2.INTER_AREA)
            ours = frame_preprocessor(spec)(image)
            if crop != resolution:  # their load_rgb
                image = cv2.resize(image, (resolution, resolution), interpolation=cv2.INTER_CUBIC)
            theirs = (torch.from_numpy(image).permute(2, 0, 1).float() / 255 - 0.5) / 0.5
            seen = backbone_input(
                theirs[None], (resolution, (0.5,) * 3, (0.5,) * 3), detector.backbone
            )
            diffs.append(((seen[0] - ours).abs() / grey).flatten())
        d = torch.cat(diffs)
        print(
            f"crop {crop:3d}, resolution {resolution}, backbone {size}: grey levels max "
            f"{float(d.max()):5.1f}, mean {float(d.mean()):.2f}, "
            f"99th percentile {float(d.quantile(0.99)):.2f}"
        )
