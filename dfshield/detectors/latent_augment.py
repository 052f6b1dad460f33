"""Latent (feature-space) augmentation of a feature bank (SP Cup paper; docs/methods.md §6).

For each feature F a noisy copy F̂ = F + β·η with η ~ N(0, σ²I) and σ ~ U(0, 1) drawn anew for each
copy; the bank used for an epoch is the originals plus the copies (m = 2n). β is a number, or
``"random"``: β ~ U(0, 1) per sample, as the authors' code draws it.
"""

from __future__ import annotations

import torch

from dfshield.errors import ConfigError


def check_beta(beta: float | str | None) -> None:
    if beta is None or beta == "random":
        return
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta < 0:
        raise ConfigError(
            f"latent_beta must be 'random', null (off) or a number >= 0, got {beta!r}"
        )


def latent_augment(
    features: torch.Tensor, labels: torch.Tensor, beta: float | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return originals ∪ noisy copies (2n rows) and their labels."""
    n = features.shape[0]
    device, dtype = features.device, features.dtype

    def uniform(size: int) -> torch.Tensor:
        return torch.rand(size, 1, generator=generator, device=device, dtype=dtype)

    sigma = uniform(n)
    scale = (
        uniform(n)
        if beta == "random"
        else torch.full((n, 1), float(beta), device=device, dtype=dtype)
    )
    noise = torch.randn(features.shape, generator=generator, device=device, dtype=dtype)
    copies = features + scale * sigma * noise
    return torch.cat([features, copies]), torch.cat([labels, labels])
