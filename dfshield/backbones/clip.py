"""Frozen CLIP image encoder from open_clip (docs/methods.md §1–3)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from dfshield.backbones.base import Backbone, check_precision
from dfshield.data.pixels import pil_preprocess
from dfshield.errors import ConfigError
from dfshield.registry import BACKBONE

MODEL_CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
TINY_MODEL = "dfshield-tiny-vit"  # random-init tiny ViT for tests and the demo
FEATURES = ("proj", "pre_proj")


def _open_clip():
    import open_clip

    if TINY_MODEL not in open_clip.list_models():
        open_clip.add_model_config(MODEL_CONFIG_DIR)
    return open_clip


@BACKBONE.register_module(module_name="clip")
class ClipBackbone(Backbone):
    """Frozen open_clip image encoder (CLIP ViT-L/14 with OpenAI weights by default).

    Args:
        model: open_clip model name (``dfshield-tiny-vit``: a tiny random-init ViT).
        pretrained: an open_clip tag (``openai``), a local checkpoint file, or null (random init
            seeded by ``init_seed``).
        cache_dir: where open_clip keeps downloaded weights (null: its default cache).
        feature: ``proj`` (final projected embedding, 768-d for ViT-L/14) or ``pre_proj`` (the CLS
            token after the final LayerNorm, 1024-d).
        normalize: L2-normalise the features.
        precision, strict_fp32: the frozen precision (:mod:`dfshield.backbones.base`).
        init_seed: the seed of a random init (``pretrained: null``).
    """

    trainable = False

    def __init__(
        self,
        model: str = "ViT-L-14",
        pretrained: str | None = "openai",
        cache_dir: str | None = None,
        feature: str = "proj",
        normalize: bool = False,
        precision: str = "auto",
        strict_fp32: bool = False,
        init_seed: int = 0,
    ):
        super().__init__()
        if feature not in FEATURES:
            raise ConfigError(f"backbone.feature must be one of {FEATURES}, got {feature!r}")
        self.precision, self.strict_fp32 = check_precision(
            "backbone 'clip'", precision, strict_fp32
        )
        self.model_name, self.pretrained, self.cache_dir = model, pretrained, cache_dir
        self.feature, self.normalize, self.init_seed = feature, normalize, init_seed
        clip, transform = _create(model, pretrained, cache_dir, init_seed)
        self.visual = clip.visual
        self.visual.requires_grad_(False)
        if feature == "pre_proj":
            if getattr(self.visual, "proj", None) is None:
                raise ConfigError(
                    f"backbone.feature 'pre_proj' needs a ViT with a projection; "
                    f"{model} has none — use feature: proj"
                )
            self.visual.proj = None
        self._transform = transform
        self._preprocess = pil_preprocess(transform)
        size = self.visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.mean = tuple(float(v) for v in self.visual.image_mean)
        self.std = tuple(float(v) for v in self.visual.image_std)
        with torch.no_grad():
            probe = torch.zeros(1, 3, self.image_size, self.image_size)
            self.feature_dim = int(self.visual(probe).shape[-1])
        self.eval()

    def train(self, mode: bool = True) -> ClipBackbone:
        return super().train(False)  # frozen: always in eval mode (no dropout, fixed statistics)

    @property
    def preprocess(self):
        """open_clip's transform of one ``HxWx3`` uint8 RGB frame, as a ``FramePreprocess`` (its
        resize run by torch's uint8 kernel, :mod:`dfshield.data.pixels`)."""
        return self._preprocess

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.encode_frozen(self.visual, images)
        return F.normalize(features, dim=-1) if self.normalize else features

    def fingerprint(self) -> dict[str, Any]:
        return {
            "backbone": "clip",
            "model": self.model_name,
            "weights": _weights_identity(self.pretrained, self.init_seed),
            "feature": self.feature,
            "normalize": self.normalize,
            "preprocess": repr(self._preprocess),  # names the resize kernel: a bank's pixels
            "precision": self.compute_precision(),
        }


def _create(model: str, pretrained: str | None, cache_dir: str | None, init_seed: int):
    open_clip = _open_clip()
    if model not in open_clip.list_models():
        from dfshield._suggest import did_you_mean

        raise ConfigError(
            f"unknown open_clip model '{model}' (backbone.model)."
            f"{did_you_mean(model, open_clip.list_models())}"
        )
    if pretrained in (None, "", "none", "null"):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            clip, _, transform = open_clip.create_model_and_transforms(model, pretrained=None)
        return clip, transform
    looks_like_path = os.sep in str(pretrained) or str(pretrained).endswith(
        (".pt", ".pth", ".bin", ".safetensors")
    )
    if looks_like_path and not Path(pretrained).is_file():
        raise ConfigError(f"backbone.pretrained: no checkpoint file at {pretrained}")
    try:
        clip, _, transform = open_clip.create_model_and_transforms(
            model, pretrained=pretrained, cache_dir=cache_dir
        )
    except (RuntimeError, OSError, ValueError) as error:
        raise ConfigError(
            f"could not load CLIP weights '{pretrained}' for {model}: {error}\n"
            f"Without internet, download the checkpoint on a machine that has it (open_clip "
            f"model {model}, pretrained '{pretrained}', e.g. open_clip_pytorch_model.bin from the "
            f"Hugging Face hub) and point to the file: --set detector.backbone.pretrained=/path/to/"
            f"open_clip_pytorch_model.bin — or set detector.backbone.cache_dir to a folder that "
            f"already holds it. For a quick test without weights use pretrained: null."
        ) from error
    return clip, transform


def _weights_identity(pretrained: str | None, init_seed: int) -> str:
    if pretrained in (None, "", "none", "null"):
        return f"random-init-seed-{init_seed}"
    path = Path(str(pretrained))
    if path.is_file():
        stat = path.stat()
        digest = hashlib.sha256(
            f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()
        ).hexdigest()
        return f"file:{path.name}:{digest[:16]}"
    return f"tag:{pretrained}"
