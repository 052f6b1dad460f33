"""``ddln``: deep dual-level network (Pu et al., Pattern Recognition 2022; docs/methods.md §4).

Per-frame CNN → GRU → frame and video heads; each level is trained with α·BCE + (1 − α)·L_WMW
(fakes ranked above reals, unlike the authors' code) and the total is β·L_video + (1 − β)·L_frame.
The paper's ablation (its Table 6) is options, not other networks: frame head alone ``beta: 0``,
video head alone ``beta: 1``, no AUC loss ``alpha: 1``, no GRU ``temporal: false``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

import dfshield.backbones  # noqa: F401  (registers the "timm" backbone)
from dfshield.detectors.base import BaseDetector
from dfshield.errors import ConfigError
from dfshield.registry import BACKBONE, DETECTOR
from dfshield.validation import boolean, integer, number

DEFAULT_BACKBONE = {"name": "timm", "model": "resnet50", "pretrained": True, "freeze": False}


@DETECTOR.register_module(module_name="ddln")
class DDLNDetector(BaseDetector):
    """Deep dual-level network: per-frame CNN → GRU → frame and video heads, BCE + WMW
    (Pu et al. 2022).

    Args:
        backbone: per-frame backbone config (default: timm ResNet-50, ImageNet weights, trained end
            to end); its ``image_size`` is set to ``input_size`` when it takes that option.
        input_size: side of the square face frames (64 in the paper).
        gru_layers, gru_hidden: depth and width of the GRU (3, 256).
        alpha: α, 1 − α become the weights of the ``loss`` section (a two-term ``composite``);
            null: the section as written.
        beta: β of the total loss β·L_video + (1 − β)·L_frame.
        temporal: ``false`` drops the GRU: the heads read the frame features (the video head their
            time average).

    Inputs are clips ``(B, T, 3, H, W)`` or frame features ``(B, T, D)``; ``forward`` returns
    video-level ``cls``/``prob``, ``feat`` (pooled) and ``frame_cls``/``frame_prob`` ``(B, T)``.
    """

    input_mode = "video"

    def __init__(
        self,
        backbone: dict | None = None,
        input_size: int = 64,
        gru_layers: int = 3,
        gru_hidden: int = 256,
        alpha: float | None = 0.5,
        beta: float = 0.5,
        temporal: bool = True,
    ):
        owner = "detector 'ddln'"
        temporal = boolean(owner, "temporal", temporal)
        input_size, gru_layers, gru_hidden = (
            integer(owner, key, value, low=1)
            for key, value in (
                ("input_size", input_size),
                ("gru_layers", gru_layers),
                ("gru_hidden", gru_hidden),
            )
        )
        if alpha is not None:  # null: the loss section's own weights
            alpha = number(owner, "alpha", alpha, low=0, high=1)
        beta = number(owner, "beta", beta, low=0, high=1)
        super().__init__(_backbone_config(backbone, input_size))
        if self.backbone.image_size != input_size:
            raise ConfigError(
                f"detector.input_size is {input_size} but backbone "
                f"'{self.backbone_config.get('name')}' takes {self.backbone.image_size}×"
                f"{self.backbone.image_size} images and has no image_size option; set "
                f"detector.input_size: {self.backbone.image_size}"
            )
        self.input_size, self.gru_layers, self.gru_hidden = input_size, gru_layers, gru_hidden
        self.alpha = alpha
        self.beta = float(beta)
        self.gru = (
            nn.GRU(self.backbone.feature_dim, gru_hidden, num_layers=gru_layers, batch_first=True)
            if temporal
            else None
        )
        width = gru_hidden if temporal else self.backbone.feature_dim
        self.frame_head = nn.Linear(width, 1)
        self.video_head = nn.Linear(width, 1)

    # -- data ------------------------------------------------------------------------------
    def input_spec(self) -> dict[str, Any]:
        """Clips of ``input_size``² frames in the backbone's normalisation (clips never
        go through a feature bank, even with a frozen backbone)."""
        return {
            "mode": self.input_mode,
            "resolution": self.input_size,
            "mean": self.backbone.mean,
            "std": self.backbone.std,
            "preprocess": None,
        }

    # -- forward ---------------------------------------------------------------------------
    def features(self, data_dict: dict) -> torch.Tensor:
        """Per-frame features ``(B, T, D)``: given, or all B·T frames as one batch."""
        features = data_dict.get("feature")
        if features is not None:
            if features.dim() != 3:
                raise ValueError(
                    f"ddln expects precomputed clip features (B, T, D), got shape "
                    f"{tuple(features.shape)}"
                )
            return features
        images = data_dict["image"]
        if images.dim() != 5:
            raise ValueError(
                f"ddln expects clips (B, T, 3, H, W) (input_mode 'video'), got shape "
                f"{tuple(images.shape)}"
            )
        batch, frames = images.shape[:2]
        encoded = self.backbone(images.reshape(batch * frames, *images.shape[2:]))
        return encoded.reshape(batch, frames, -1)

    def sequence(self, features: torch.Tensor) -> torch.Tensor:
        """GRU outputs ``(B, T, gru_hidden)`` (the features with ``temporal: false``)."""
        if self.gru is None:
            return features
        outputs, _ = self.gru(features)
        return outputs

    def classifier(self, features: torch.Tensor) -> torch.Tensor:
        """Video logits ``(B,)`` of frame features ``(B, T, D)``."""
        return self.video_head(self.sequence(features).mean(dim=1)).squeeze(-1)

    def forward(self, data_dict: dict, inference: bool = False) -> dict:
        outputs = self.sequence(self.features(data_dict))
        pooled = outputs.mean(dim=1)
        video_logits = self.video_head(pooled).squeeze(-1)
        frame_logits = self.frame_head(outputs).squeeze(-1)
        return {
            "cls": video_logits,
            "prob": torch.sigmoid(video_logits),
            "feat": pooled,
            "frame_cls": frame_logits,
            "frame_prob": torch.sigmoid(frame_logits),
        }

    # -- loss ------------------------------------------------------------------------------
    def build_loss(self, config: dict, class_counts: dict | None = None) -> nn.Module | None:
        """The per-level loss; with ``alpha`` set, the two-term ``composite`` section's
        weights become α and 1 − α (a weight written there must agree)."""
        if self.alpha is not None:
            config = _alpha_weighted(config, self.alpha)
        return super().build_loss(config, class_counts)

    def get_losses(self, data_dict: dict, pred_dict: dict) -> dict[str, torch.Tensor]:
        """β·L(video logits, labels) + (1 − β)·L(frame logits, labels repeated over T)."""
        if self.loss_fn is None:
            raise RuntimeError("call build_loss(config) before get_losses")
        labels = data_dict["label"]
        frame_logits = pred_dict["frame_cls"]
        video = self.loss_fn(pred_dict["cls"], labels)
        frame = self.loss_fn(
            frame_logits.reshape(-1), labels.repeat_interleave(frame_logits.shape[1])
        )
        return {
            "overall": self.beta * video + (1 - self.beta) * frame,
            "video": video,
            "frame": frame,
        }


def _backbone_config(backbone: dict | None, input_size: int) -> dict:
    """The backbone config with ``image_size = input_size`` when the backbone takes it."""
    config = dict(DEFAULT_BACKBONE if backbone is None else backbone)
    if "name" not in config:
        raise ConfigError(
            f"detector.backbone needs a 'name' (e.g. {DEFAULT_BACKBONE}); got {config}"
        )
    accepts = "image_size" in inspect.signature(BACKBONE.get(config["name"]).__init__).parameters
    if accepts:
        given = config.get("image_size")
        if given is not None and given != input_size:
            raise ConfigError(
                f"detector.backbone.image_size ({given}) differs from "
                f"detector.input_size ({input_size}); set only detector.input_size"
            )
        config["image_size"] = input_size
    return config


def _alpha_weighted(config: dict, alpha: float) -> dict:
    """``config`` (a two-term composite) with term weights α and 1 − α."""
    if (
        not isinstance(config, Mapping)
        or config.get("name") != "composite"
        or not isinstance(config.get("terms"), (list, tuple))
        or len(config["terms"]) != 2
    ):
        raise ConfigError(
            f"detector.alpha ({alpha}) weights the two terms of the per-level loss α·BCE + "
            f"(1 − α)·L_WMW, so the loss section must be a composite of two terms, e.g. "
            f"{{name: composite, terms: [{{name: bce}}, "
            f"{{name: auc_wmw, gamma: 0.15, p_exp: 2}}]}}; "
            f"got {config!r}. To use another loss as written, set detector.alpha: null"
        )
    terms = []
    for i, (term, weight) in enumerate(zip(config["terms"], (alpha, 1.0 - alpha))):
        if not isinstance(term, Mapping):
            raise ConfigError(f"loss.terms[{i}] must be a loss config mapping, got {term!r}")
        given = term.get("weight")
        if given is not None and (
            isinstance(given, bool)
            or not isinstance(given, (int, float))
            or abs(given - weight) > 1e-9
        ):
            raise ConfigError(
                f"loss.terms[{i}].weight ({given}) disagrees with detector.alpha ({alpha}), which "
                f"sets it to {weight:g}; remove the weight from the loss section and set "
                f"detector.alpha (or set detector.alpha: null to use the section's weights)"
            )
        terms.append({**term, "weight": weight})
    return {**config, "terms": terms}
