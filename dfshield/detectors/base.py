"""The detector interface, compatible with DeepfakeBench's ``AbstractDetector``.

The same methods and ``data_dict`` / ``pred_dict`` keys as DeepfakeBench, except that the
constructor takes the ``detector`` section's options as keyword arguments and ``cls`` is one logit
of *fake* ``(B,)`` (their two logits ``(B, 2)`` pass through ``dfshield.losses.fake_logit``).
Labels: fake = 1, real = 0. Adapters both ways: docs/deepfakebench.md.

The contract
------------
What the rest of dfshield calls, and the default :class:`BaseDetector` gives;
``dfshield.detectors.check_detector(MyDetector)`` checks a class against it. The feature bank
encodes each frame once with a frozen backbone; the scorer runs ``test``/``predict``/``robustness``.

=================================  ============================  ===================================
member                             called by                     default
=================================  ============================  ===================================
``backbone`` (required)            feature bank, scorer,         built by ``__init__`` from the
                                   trainer (``fingerprint()``)   ``backbone`` config
``build_backbone(config)``         ``__init__``                  ``BACKBONE.build(config)``
``input_mode``                     ``input_spec``, scorer        ``frame``; ``video``: clips
                                                                 ``(B, T, 3, H, W)``
``input_spec()``                   trainer, evaluator, scorer:   ``mode``, ``resolution``, ``mean``,
                                   ``DeepfakeDataset(**spec)``   ``std``; with a bank the backbone's
                                                                 ``preprocess``
``uses_feature_bank``              trainer (bank: no image       frozen backbone and
                                   augmentation), scorer,        ``input_mode == "frame"``
                                   ``extract``
``feature_copies``                 trainer (bank steps/epoch)    ``1``
``augment_features(f, y, gen)``    trainer, each epoch, bank     identity; must return
                                                                 ``feature_copies`` × the rows
``batched_head``                   grouped runs                  ``None`` (one by one), or the name
                                   (``train.batched_runs``)      of an ``nn.Sequential`` of Linear,
                                                                 BatchNorm1d, activation, Dropout:
                                                                 squeezed, its output is the logit
``build_loss(config, counts)``     trainer, once                 ``LOSS`` → ``self.loss_fn``; empty
                                                                 section: BCE
``get_losses(data, pred)``         trainer, each step            ``overall``: ``loss_fn(cls,label)``
                                                                 (a finite scalar, backpropagated)
``get_train_metrics(data, pred)``  DeepfakeBench's trainer       batch ``acc`` and ``auc``
``trainable_state_dict()``         trainer (checkpoints)         all but a frozen backbone
``load_trainable_state_dict(s)``   trainer, scorer               loads it; checks the keys
``features(data)``                 ``forward``                   ``data["feature"]`` if given, else
                                                                 ``backbone(data["image"])``
``classifier(features)``           ``forward``                   abstract: logits ``(B,)``
``forward(data, inference)``       trainer, evaluator, scorer    ``cls``, ``prob``, ``feat``
=================================  ============================  ===================================

``data_dict``: ``image`` ``(B, 3, H, W)`` or clips ``(B, T, 3, H, W)`` (``None`` when features
are given); ``label`` ``(B,)`` long; ``feature`` ``(B, D)`` from the bank (skips the backbone);
from the loader also ``index``, ``video_id``, ``frame_key``. ``pred_dict``: ``cls`` ``(B,)``
float logit of *fake*; ``prob`` = ``sigmoid(cls)``; ``feat`` (read only by the detector's own
``get_losses``); video detectors add ``frame_cls`` and ``frame_prob``, ``(B, T)``. Extra keys
are allowed.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from dfshield.backbones.base import Backbone
from dfshield.errors import ConfigError
from dfshield.registry import BACKBONE

#: a backbone config quoted by errors that ask for one
EXAMPLE_BACKBONE = "{name: clip, model: ViT-L-14, pretrained: openai}"
#: the loss of a run whose config has no ``loss`` section
DEFAULT_LOSS = {"name": "bce"}


class BaseDetector(nn.Module, abc.ABC):
    """Base of every detector (abstract: register concrete subclasses in ``DETECTOR``).

    ``backbone``, a registered backbone's config, is required: the feature bank, the loader's input
    spec and checkpoints derive from it.
    """

    #: ``frame`` (one image a sample) or ``video`` (a clip of T frames, ``(B, T, 3, H, W)``)
    input_mode = "frame"
    #: rows a feature bank has after ``augment_features`` per original row
    feature_copies = 1
    #: the attribute holding an MLP head that grouped runs may stack (see the contract table)
    batched_head: str | None = None

    def __init__(self, backbone: Mapping[str, Any] | None):
        super().__init__()
        if not backbone:
            raise ConfigError(
                f"detector {type(self).__name__} needs a backbone: set detector.backbone to a "
                f"registered backbone config, e.g. {EXAMPLE_BACKBONE} (`dfshield list "
                f"backbones` lists them), and pass it on with super().__init__(backbone)"
            )
        self.backbone_config = dict(backbone)
        self.backbone: Backbone = self.build_backbone(self.backbone_config)
        self.loss_fn: nn.Module | None = None

    # -- building --------------------------------------------------------------------------
    def build_backbone(self, config: dict) -> Backbone:
        return BACKBONE.build(config)

    def build_loss(self, config: dict, class_counts: dict | None = None) -> nn.Module | None:
        """``self.loss_fn`` from the run's ``loss`` section (empty: :data:`DEFAULT_LOSS`);
        None for a detector with a built-in objective (``rdaa``)."""
        from dfshield.losses import build_loss

        self.loss_fn = build_loss(config or DEFAULT_LOSS, class_counts=class_counts)
        return self.loss_fn

    def input_spec(self) -> dict[str, Any]:
        """How the loader prepares images: mode, resolution, normalisation, and the
        backbone's own preprocessing when it is frozen."""
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
        """True for a frozen backbone on frames: each frame is encoded once into the bank
        (banks hold frames, not clips, so a frozen video detector encodes each step)."""
        return not self.backbone.trainable and self.input_mode == "frame"

    # -- forward ---------------------------------------------------------------------------
    def features(self, data_dict: dict) -> torch.Tensor:
        if data_dict.get("feature") is not None:
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
        """Feature-bank augmentation (identity by default): ``feature_copies`` × the rows,
        labels aligned."""
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
        """A checkpoint's weights: all but a frozen backbone (rebuilt from its config)."""
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
