"""Latent (feature-space) augmentation of the SP Cup paper (docs/methods.md §6): noisy copies
F̂ = F + β·σ·η, made for the feature bank (:func:`latent_augment`, originals plus copies) or in a
training-mode forward on images (:func:`latent_mix`, each row swapped for its copy with
probability 1/2), so the head sees the same proportions either way.
"""

from __future__ import annotations

import weakref

import torch

from dfshield.errors import ConfigError


def check_beta(beta: float | str | None) -> None:
    if beta is None or beta == "random":
        return
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or beta < 0:
        raise ConfigError(
            f"latent_beta must be 'random', null (off) or a number >= 0, got {beta!r}"
        )


def noisy_copies(
    features: torch.Tensor, beta: float | str, generator: torch.Generator | None = None
) -> torch.Tensor:
    """F̂ = F + β·σ·η for every row (σ, and β when ``"random"``, drawn per row; η ~ N(0, I))."""
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
    return features + scale * sigma * noise


def latent_augment(
    features: torch.Tensor, labels: torch.Tensor, beta: float | str, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """The feature bank's augmentation: originals ∪ noisy copies (2n rows) and their labels."""
    copies = noisy_copies(features, beta, generator)
    return torch.cat([features, copies]), torch.cat([labels, labels])


def latent_mix(
    features: torch.Tensor, beta: float | str, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The in-forward augmentation: each row replaced by its noisy copy with probability 1/2,
    so rows are originals and copies in the bank's proportions (labels unchanged)."""
    copies = noisy_copies(features, beta, generator)
    keep = torch.rand(features.shape[0], 1, generator=generator, device=features.device) < 0.5
    return torch.where(keep, features, copies)


def batch_generator(
    memo: dict, batch: torch.Tensor | None, device: torch.device
) -> torch.Generator | None:
    """A generator for the in-forward noise, seeded alike for every forward of one batch (both
    passes of a SAM step) and anew for the next; None without a batch key (torch's global one).
    A batch is its label tensor, passed unchanged to both passes by dfshield's and DeepfakeBench's
    trainers; ``memo`` remembers it and its seed, drawn from torch's global generator.
    """
    if batch is None:
        return None
    seen = memo.get("batch")
    if seen is None or seen() is not batch:
        memo["batch"] = weakref.ref(batch)
        memo["seed"] = int(torch.randint(2**62, (1,)))
    return torch.Generator(device=device).manual_seed(memo["seed"])
