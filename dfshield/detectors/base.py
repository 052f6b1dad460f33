"""The detector interface, compatible with DeepfakeBench's ``AbstractDetector``.

The same ``features`` / ``classifier`` / ``forward`` / ``build_backbone`` / ``build_loss`` /
``get_losses`` / ``get_train_metrics`` methods and ``data_dict`` / ``pred_dict`` keys as
DeepfakeBench. Two deliberate differences: the constructor takes the ``detector`` section's
options as keyword arguments (DeepfakeBench: one ``config`` dict), and ``pred_dict["cls"]`` is the
single logit of *fake*, shape ``(B,)`` (DeepfakeBench uses two logits ``(B, 2)``, which dfshield's
losses and evaluator also accept, through ``dfshield.losses.fake_logit``); ``prob = sigmoid(cls)``
equals their ``softmax(cls)[:, 1]``. Labels: fake = 1, real = 0. Both directions are automatic:
``dfshield.integrations.deepfakebench.register`` puts every dfshield frame detector into
DeepfakeBench's registry (``Cls(config)``, two logits), and the ``deepfakebench`` detector
(``dfshield/detectors/deepfakebench_wrapper.py``) runs any DeepfakeBench detector class in dfshield
(docs/deepfakebench.md).

The contract
------------
What the rest of dfshield calls, and what a detector gets for free by subclassing
:class:`BaseDetector`. ``dfshield.detectors.check_detector(MyDetector)`` checks a class against it.
Callers: *trainer* = ``dfshield.engine.trainer``; *feature bank* = ``dfshield.engine.feature_bank``
(encodes every frame once with a frozen backbone); *loader* = ``dfshield.data.DeepfakeDataset``;
*evaluator* = validation, test and extra test sets; *scorer* = ``dfshield.scoring.scorer.Scorer``
(``test``, ``predict``, ``robustness``).

====================================  ================================  ============================
member                                who calls it                      default
====================================  ================================  ============================
``backbone`` (required)               feature bank (encodes frames),    a ``Backbone`` built by
                                      scorer (encodes frames, checks    ``__init__`` from the
                                      ``fingerprint()``), trainer       ``backbone`` config; no
                                      (stores the fingerprint)          config is a ConfigError
``build_backbone(config)``            ``__init__``                      ``BACKBONE.build(config)``
``input_mode``                        ``input_spec``,                   ``frame``; ``video``: clips
                                      ``uses_feature_bank``, scorer     ``(B, T, 3, H, W)``
                                      (frames or clips)
``input_spec()``                      trainer, evaluator, scorer →      keys ``mode``,
                                      loader:                           ``resolution``, ``mean``,
                                      ``DeepfakeDataset(**spec)``       ``std`` (the backbone's),
                                                                        ``preprocess`` (the
                                                                        backbone's own when a bank
                                                                        is used)
``uses_feature_bank``                 trainer (batch source: bank or    frozen backbone and
                                      DataLoader; no image              ``input_mode == "frame"``
                                      augmentation with a bank),
                                      scorer, ``extract``
``feature_copies``                    trainer (steps per epoch with a   ``1``
                                      bank)
``augment_features(f, y, gen)``       trainer, every epoch on the       identity (must return
                                      train bank                        ``feature_copies`` × the
                                                                        rows)
``batched_head``                      grouped runs (sweeps with         ``None``: runs train one by
                                      ``train.batched_runs``): the      one; a name (e.g.
                                      attribute holding an              ``"head"``): runs of one
                                      ``nn.Sequential`` of Linear,      config stack that head and
                                      BatchNorm1d, activation and       step together
                                      Dropout whose squeezed output
                                      is ``classifier``'s logit
``build_loss(config, class_counts)``  trainer, once before training     ``LOSS`` registry →
                                                                        ``self.loss_fn``; an
                                                                        empty section: BCE
``get_losses(data, pred)``            trainer, every step:              ``{"overall": loss_fn(cls,
                                      ``overall``, a finite scalar, is  label)}``
                                      back-propagated
``get_train_metrics(data, pred)``     no dfshield code                  batch ``acc`` and ``auc``
                                      (DeepfakeBench's trainer logs
                                      it)
``trainable_state_dict()``            trainer (checkpoints)             every weight but a frozen
                                                                        backbone's
``load_trainable_state_dict(s)``      trainer (resume, test), scorer    loads the above; checks the
                                      (checkpoints)                     keys
``features(data)``                    ``forward``                       ``data["feature"]`` when
                                                                        given, else
                                                                        ``backbone(data["image"])``
``classifier(features)``              ``forward``                       abstract: logits ``(B,)``
``forward(data, inference)``          trainer (steps, validation),      ``cls``, ``prob``, ``feat``
                                      evaluator, scorer
====================================  ================================  ============================

``data_dict`` (what ``forward`` and ``get_losses`` receive): ``image`` ``(B, 3, H, W)``, or clips
``(B, T, 3, H, W)`` in video mode (``None`` when features are given); ``label`` ``(B,)`` long;
``feature`` ``(B, D)`` from the feature bank (training and scoring with a frozen backbone; the
backbone is then skipped); from the loader also ``index``, ``video_id``, ``frame_key``.

``pred_dict`` (what ``forward`` returns): ``cls`` ``(B,)`` floating logit of *fake* (trainer,
evaluator, scorer); ``prob`` = ``sigmoid(cls)`` (evaluator, scorer); ``feat`` ``(B, ...)``
(DeepfakeBench's key; read only by a detector's own ``get_losses``). Video detectors add
``frame_cls`` and ``frame_prob = sigmoid(frame_cls)``, ``(B, T)``: per-frame scores of the frame
head (evaluator: frame-level metrics; scorer: per-frame rows). Extra keys are allowed.
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

    Args:
        backbone: config of a registered backbone (``{name: clip, model: ViT-L-14, ...}``),
            required: the feature bank, the loader's input spec and checkpoints all derive from
            it. ``None`` or an empty mapping is a ConfigError that says what to set.
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
        """Build the training loss from the run's ``loss`` section (class counts for VS weights;
        an empty section is :data:`DEFAULT_LOSS`).

        Returns the loss module, or None for a detector whose objective is built in (``rdaa``).
        """
        from dfshield.losses import build_loss

        self.loss_fn = build_loss(config or DEFAULT_LOSS, class_counts=class_counts)
        return self.loss_fn

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
        """Training-time augmentation of a feature bank (identity unless a detector overrides
        it); returns ``feature_copies`` times as many rows, labels aligned."""
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
