"""``robust_clip``: Santosh / Lin et al., "Robust CLIP-based detector for exposing diffusion
model-generated images" (MIPR 2024; SP Cup Baseline 2; docs/methods.md §3). The network is
``mlp`` with LeakyReLU; the two shipped objectives are its YAMLs.
"""

from dfshield.detectors.mlp_detector import MLPDetector
from dfshield.registry import DETECTOR


@DETECTOR.register_module(module_name="robust_clip")
class RobustCLIPDetector(MLPDetector):
    """CLIP features + LeakyReLU MLP, latent augmentation, CVaR + AUC loss, SAM
    (Lin et al. 2024)."""

    default_activation = "leaky_relu"
