"""``robust_clip``: Santosh / Lin et al., "Robust CLIP-based detector for exposing diffusion
model-generated images" (MIPR 2024; SP Cup Baseline 2; docs/methods.md §3).

Frozen CLIP image features → latent augmentation → 3 × [Linear, BN, LeakyReLU(0.01),
Dropout(0.335)] → Linear(→1), SAM around AdamW. Two shipped objectives:
``robust_clip.yaml`` (SP Cup Baseline 2: VS + logistic AUC loss) and ``robust_clip_original.yaml``
(the published γ·CVaR_0.8(BCE) + (1−γ)·squared-hinge AUC loss). Image features only: their code
also concatenates CLIP text features of the generation prompt, which face datasets do not have.
"""

from dfshield.detectors.mlp_detector import MLPDetector
from dfshield.registry import DETECTOR


@DETECTOR.register_module(module_name="robust_clip")
class RobustCLIPDetector(MLPDetector):
    """CLIP features + LeakyReLU MLP, latent augmentation, CVaR + AUC loss, SAM
    (Lin et al. 2024)."""

    default_activation = "leaky_relu"
