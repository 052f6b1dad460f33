"""``spcup``: robust AI-generated face detection with imbalanced data (SP Cup 2025 paper;
docs/methods.md §1). This class is the network; the objective and optimiser are in
``configs/detectors/spcup.yaml``.
"""

from dfshield.detectors.mlp_detector import MLPDetector
from dfshield.registry import DETECTOR


@DETECTOR.register_module(module_name="spcup")
class SPCupDetector(MLPDetector):
    """CLIP features + MLP, latent augmentation, CVaR(VS) + AUC loss, SAM (SP Cup 2025)."""

    default_activation = "relu"
