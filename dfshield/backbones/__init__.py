"""Backbones: the image encoders a detector builds by name (``BACKBONE``); importing this
package registers ``clip`` (open_clip) and ``timm``."""

from dfshield.backbones import clip, timm  # noqa: F401  (importing registers them)
from dfshield.backbones.base import Backbone

__all__ = ["Backbone"]
