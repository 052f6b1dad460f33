"""``spcup``: robust AI-generated face detection with imbalanced data (SP Cup 2025 paper;
docs/methods.md §1).

Frozen CLIP ViT-L/14 (OpenAI) 768-d features → latent augmentation → 3 × [Linear(768→768), BN,
ReLU, Dropout(0.335)] → Linear(768→1), trained with L = CVaR_α(ℓ_VS) + γ·L_AUC under SAM around
AdamW. The objective and optimiser live in ``configs/detectors/spcup.yaml``; this class is the
network. Unlike the authors' public code we follow the paper: SAM is applied, the VS loss carries
the gradient, and the cosine schedule decays once over the whole run.
"""

from dfshield.detectors.mlp_detector import MLPDetector
from dfshield.registry import DETECTOR


@DETECTOR.register_module(module_name="spcup")
class SPCupDetector(MLPDetector):
    """CLIP features + MLP, latent augmentation, CVaR(VS) + AUC loss, SAM (SP Cup 2025)."""

    default_activation = "relu"
