"""``clip_linear``: frozen CLIP features + one linear layer (Cozzolino et al., CVPR-W 2024; SP Cup
Baseline 1; docs/methods.md §2, which also names the two shipped feature settings).
"""

import torch
from torch import nn

from dfshield.detectors.base import BaseDetector
from dfshield.registry import DETECTOR


@DETECTOR.register_module(module_name="clip_linear")
class CLIPLinearDetector(BaseDetector):
    """Frozen CLIP features + a linear classifier, BCE (Cozzolino et al. 2024)."""

    def __init__(self, backbone: dict):
        super().__init__(backbone)
        self.head = nn.Linear(self.backbone.feature_dim, 1)

    def classifier(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features).squeeze(-1)
