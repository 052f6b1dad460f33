"""Fixtures only (shared helpers live in ``tests/helpers.py``); torch threads capped at 2."""

from __future__ import annotations

import os

import pytest
import torch

from tests.helpers import write_toy_dataset

# Tiny models on a machine shared by parallel jobs: more intra-op threads only add contention.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def one_thread():
    """Tiny models on a shared machine run faster on one thread than fighting for two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def encoded_frames(monkeypatch) -> list[int]:
    """Batch sizes of every CLIP backbone forward call made during the test."""
    from dfshield.backbones.clip import ClipBackbone

    sizes: list[int] = []
    original = ClipBackbone.forward

    def counting_forward(self, images):
        sizes.append(images.shape[0])
        return original(self, images)

    monkeypatch.setattr(ClipBackbone, "forward", counting_forward)
    return sizes


@pytest.fixture(scope="session")
def toy_dataset(tmp_path_factory) -> dict:
    """A tiny DeepfakeBench-format dataset whose fakes carry a visible artefact."""
    return write_toy_dataset(tmp_path_factory.mktemp("toy"))
