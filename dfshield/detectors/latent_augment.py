"""Latent (feature-space) augmentation (SP Cup paper; docs/methods.md §6).

For each feature F a noisy copy F̂ = F + β·η with η ~ N(0, σ²I) and σ ~ U(0, 1) drawn anew for each
copy. β is a number, or ``"random"``: β ~ U(0, 1) per sample, as the authors' code draws it.

Two places apply it, with the same rows in the same proportions — half originals, half noisy
copies drawn by :func:`noisy_copies`:

* the feature bank (frozen backbone in dfshield's trainer): :func:`latent_augment` makes the
  epoch's bank of originals plus one copy of each (m = 2n), shuffled into batches;
* the detector's training-mode forward on images (a trainable backbone, or any trainer that feeds
  images, e.g. DeepfakeBench's): :func:`latent_mix` replaces each row of the batch by its noisy
  copy with probability 1/2. An epoch then holds n rows instead of 2n. Every forward of one
  batch draws the same noise and mix (:func:`batch_generator`), so SAM's two passes perturb the
  weights for one augmented batch, as the paper's step does.
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
    """A generator of the in-forward noise: seeded the same for every forward of one batch (the
    two passes of a SAM step), anew for the next batch; ``memo`` (a dict the detector keeps)
    remembers the batch and its seed. None without a batch key: torch's global generator.

    A batch is recognised by its label tensor, the one input both dfshield's trainer and
    DeepfakeBench's pass unchanged to both passes (their adapter rebuilds the images); a new
    batch is a new tensor, as every DataLoader yields. The seed comes from torch's global
    generator, so ``torch.manual_seed`` makes runs repeatable.
    """
    if batch is None:
        return None
    seen = memo.get("batch")
    if seen is None or seen() is not batch:
        memo["batch"] = weakref.ref(batch)
        memo["seed"] = int(torch.randint(2**62, (1,)))
    return torch.Generator(device=device).manual_seed(memo["seed"])
