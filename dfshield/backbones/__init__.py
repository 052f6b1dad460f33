"""Backbones: the frozen or trainable image encoders a detector builds by name (``BACKBONE``).

Importing this package registers the built-in ones: ``clip`` (open_clip) and ``timm``.
"""

from dfshield.backbones import clip, timm  # noqa: F401  (importing registers them)
from dfshield.backbones.base import Backbone

__all__ = ["Backbone"]
