"""The detector interface, compatible with DeepfakeBench's ``AbstractDetector``.

A DeepfakeBench detector ports with minimal change (and ours port back): the same
``features`` / ``classifier`` / ``forward`` / ``build_backbone`` / ``build_loss`` / ``get_losses``
/ ``get_train_metrics`` methods and the same ``data_dict`` / ``pred_dict`` keys. One deliberate
difference: ``pred_dict["cls"]`` is the single logit of *fake*, shape ``(B,)`` (DeepfakeBench
uses two logits); ``prob = sigmoid(cls)`` as there. Labels: fake = 1, real = 0.

A detector with a frozen backbone may receive precomputed features instead of images:
``data_dict["feature"]`` (from the feature bank) skips the backbone.
"""

from __future__ import annotations

import abc
from typing import Any

import torch
from torch import nn

from dfshield.detectors.backbone import Backbone
from dfshield.registry import BACKBONE


class BaseDetector(nn.Module, abc.ABC):
    """Base of every detector (abstract: register concrete subclasses in ``DETECTOR``).

    Args:
        backbone: config of a registered backbone (``{name: clip, model: ViT-L-14, ...}``).
    """

    def __init__(self, backbone: dict | None = None):
        super().__init__()
        self.backbone_config = dict(backbone or {})
        self.backbone: Backbone | None = (
            self.build_backbone(self.backbone_config) if backbone else None
        )
        self.loss_fn: nn.Module | None = None

    # -- building --------------------------------------------------------------------------
    def build_backbone(self, config: dict) -> Backbone:
        return BACKBONE.build(config)

    def build_loss(self, config: dict, class_counts: dict | None = None) -> nn.Module:
        """Build the training loss from the run's ``loss`` section (class counts for VS weights)."""
        from dfshield.losses import build_loss

        self.loss_fn = build_loss(config, class_counts=class_counts)
        return self.loss_fn

    #: ``frame`` (one image a sample) or ``video`` (a clip of T frames, ``(B, T, 3, H, W)``)
    input_mode = "frame"
    #: rows a feature bank has after ``augment_features`` per original row
    feature_copies = 1

    def input_spec(self) -> dict[str, Any]:
        """How the shared loader must prepare images for this detector: mode, resolution,
        normalisation, and the backbone's own preprocessing when it is frozen."""
        backbone = self.backbone
        return {
            "mode": self.input_mode,
            "resolution": backbone.image_size,
            "mean": backbone.mean,
            "std": backbone.std,
            "preprocess": backbone.preprocess if self.uses_feature_bank else None,
        }

    @property
    def uses_feature_bank(self) -> bool:
        """True when the backbone is frozen and samples are frames: each frame is encoded once
        into the feature bank. (A video detector with a frozen backbone encodes its clips each
        step: banks hold frames, not clips.)"""
        return (
            self.backbone is not None and not self.backbone.trainable and self.input_mode == "frame"
        )

    # -- forward ---------------------------------------------------------------------------
    def features(self, data_dict: dict) -> torch.Tensor:
        if "feature" in data_dict and data_dict["feature"] is not None:
            return data_dict["feature"]
        return self.backbone(data_dict["image"])

    @abc.abstractmethod
    def classifier(self, features: torch.Tensor) -> torch.Tensor:
        """Logits of *fake*, shape ``(B,)``."""

    def forward(self, data_dict: dict, inference: bool = False) -> dict:
        features = self.features(data_dict)
        logits = self.classifier(features)
        return {"cls": logits, "prob": torch.sigmoid(logits), "feat": features}

    def augment_features(
        self, features: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training-time augmentation of a feature bank (identity unless a detector overrides it)."""
        return features, labels

    # -- losses and metrics ----------------------------------------------------------------
    def get_losses(self, data_dict: dict, pred_dict: dict) -> dict[str, torch.Tensor]:
        if self.loss_fn is None:
            raise RuntimeError("call build_loss(config) before get_losses")
        return {"overall": self.loss_fn(pred_dict["cls"], data_dict["label"])}

    @torch.no_grad()
    def get_train_metrics(self, data_dict: dict, pred_dict: dict) -> dict[str, float]:
        """Batch accuracy at 0.5, and batch AUC when the batch holds both classes."""
        labels = data_dict["label"].float()
        probs = pred_dict["prob"].float()
        metrics = {"acc": float(((probs >= 0.5).float() == labels).float().mean())}
        fake, real = probs[labels == 1], probs[labels == 0]
        if len(fake) and len(real):
            wins = (fake[:, None] > real[None, :]).float() + 0.5 * (
                fake[:, None] == real[None, :]
            ).float()
            metrics["auc"] = float(wins.mean())
        return metrics

    # -- checkpoints -----------------------------------------------------------------------
    def trainable_state_dict(self) -> dict[str, Any]:
        """The weights a checkpoint must hold: everything but a frozen backbone (rebuilt from
        its config, e.g. 300M CLIP parameters that never change)."""
        state = self.state_dict()
        if self.uses_feature_bank:
            state = {k: v for k, v in state.items() if not k.startswith("backbone.")}
        return state

    def load_trainable_state_dict(self, state: dict[str, Any]) -> None:
        missing, unexpected = self.load_state_dict(state, strict=False)
        if self.uses_feature_bank:
            missing = [k for k in missing if not k.startswith("backbone.")]
        if missing or unexpected:
            raise RuntimeError(
                f"checkpoint does not fit this detector: missing {missing[:5]}, "
                f"unexpected {unexpected[:5]}"
            )
