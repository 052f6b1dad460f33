"""Frozen features → MLP head, with optional latent augmentation: the shape shared by ``spcup``
and ``robust_clip`` (docs/methods.md §1, §3, §6).
"""

from __future__ import annotations

import torch

from dfshield import validation
from dfshield.detectors.base import BaseDetector
from dfshield.detectors.heads import ACTIVATIONS, mlp_head
from dfshield.detectors.latent_augment import (
    batch_generator,
    check_beta,
    latent_augment,
    latent_mix,
)
from dfshield.registry import DETECTOR

_OWNER = "detector"  # the config section: messages read "detector: 'hidden' must be ..."


@DETECTOR.register_module(module_name="mlp")
class MLPDetector(BaseDetector):
    """Frozen features + a configurable MLP head with latent augmentation (any loss, any backbone).

    ``spcup`` and ``robust_clip`` are this network with one paper's defaults.

    Args:
        backbone: the backbone config (``clip`` or ``timm``, :mod:`dfshield.backbones`).
        hidden: width of the hidden layers (null = the feature size, 768 for CLIP ViT-L/14).
        layers: number of hidden blocks (0: a linear classifier).
        dropout: dropout probability after each hidden block.
        activation: ``relu``, ``leaky_relu`` (slope 0.01) or ``gelu``.
        latent_beta: latent augmentation scale β: ``random`` (β ~ U(0,1) per sample), a number, or
            null (off). Applied to the feature bank, or in the training-mode forward on images.
    """

    default_activation = "relu"
    batched_head = "head"  # grouped runs stack this head (dfshield.engine.grouped_runs)

    def __init__(
        self,
        backbone: dict,
        hidden: int | None = None,
        layers: int = 3,
        dropout: float = 0.335,
        activation: str | None = None,
        latent_beta: float | str | None = "random",
    ):
        # checked before the backbone is built: a bad value fails before any weights load
        activation = validation.choice(
            _OWNER, "activation", activation or self.default_activation, sorted(ACTIVATIONS)
        )
        dropout = validation.number(_OWNER, "dropout", dropout, low=0.0, high=1.0, high_open=True)
        layers = validation.integer(_OWNER, "layers", layers, low=0)
        if hidden is not None:
            hidden = validation.integer(_OWNER, "hidden", hidden, low=1)
        check_beta(latent_beta)
        super().__init__(backbone)
        self.latent_beta = latent_beta
        self.feature_copies = 1 if latent_beta is None else 2
        self.batch_noise: dict = {}  # the batch whose noise seed batch_generator drew
        in_dim = self.backbone.feature_dim
        self.head = mlp_head(in_dim, hidden or in_dim, layers, dropout, activation)

    def features(self, data_dict: dict) -> torch.Tensor:
        """The backbone's features; in training mode on images (bank rows are augmented
        already) half are swapped for noisy copies, alike in every forward of one batch."""
        features = super().features(data_dict)
        if self.training and self.latent_beta is not None and data_dict.get("feature") is None:
            label = data_dict.get("label")
            generator = batch_generator(self.batch_noise, label, features.device)
            features = latent_mix(features, self.latent_beta, generator)
        return features

    def classifier(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features).squeeze(-1)

    def augment_features(self, features, labels, generator):
        if self.latent_beta is None:
            return features, labels
        return latent_augment(features, labels, self.latent_beta, generator)
