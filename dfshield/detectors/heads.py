"""Classification heads shared by the CLIP detectors (docs/methods.md §1–3)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "gelu": nn.GELU,
}


def mlp_head(
    in_dim: int, hidden: int, layers: int, dropout: float, activation: str
) -> nn.Sequential:
    """``layers`` × [Linear, BatchNorm1d, activation, Dropout] then Linear(→1); ``layers = 0`` is
    a linear classifier (the shapes of ``spcup`` and ``robust_clip``: docs/methods.md §1, §3)."""
    blocks: list[nn.Module] = []
    width = in_dim
    for _ in range(layers):
        blocks += [
            nn.Linear(width, hidden),
            nn.BatchNorm1d(hidden),
            ACTIVATIONS[activation](),
            nn.Dropout(dropout),
        ]
        width = hidden
    blocks.append(nn.Linear(width, 1))
    return nn.Sequential(*blocks)
