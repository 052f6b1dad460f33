"""Latent augmentation in the training-mode forward (docs/methods.md §6): half the rows are noisy
copies, and both passes of a SAM step see the same augmented batch, in DeepfakeBench's trainer
(its call sequence from ``tests/deepfakebench_style.py``) as in dfshield's."""

from __future__ import annotations

import pytest
import torch

from dfshield.detectors.latent_augment import batch_generator
from dfshield.integrations.deepfakebench import deepfakebench_class
from tests.deepfakebench_style import SAM, Trainer
from tests.helpers import TINY_BACKBONE


def their_spcup():
    """dfshield's spcup as DeepfakeBench builds it, on 32² images."""
    config = {
        "model_name": "spcup",
        "resolution": 32,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.5, 0.5, 0.5],
        "label_dict": {"real": 0, "fake": 1},
        "class_counts": {"real": 10, "fake": 10},
        "optimizer": {"type": "sam"},
        "dfshield": {"detector": {"backbone": dict(TINY_BACKBONE)}},
    }
    return deepfakebench_class("spcup")(config), config


def batch(seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(16, 3, 32, 32, generator=generator) * 2 - 1
    return {"image": images, "label": torch.arange(16) % 2, "mask": None, "landmark": None}


@pytest.mark.slow
def test_both_sam_passes_of_a_step_see_the_same_augmented_batch():
    torch.manual_seed(0)
    model, config = their_spcup()
    head_inputs: list[torch.Tensor] = []
    model.head.register_forward_pre_hook(lambda _, args: head_inputs.append(args[0].detach()))
    trainer = Trainer(config, model, SAM(model.parameters(), torch.optim.Adam, lr=1e-3))
    model.eval()
    with torch.no_grad():
        model(batch(0))  # eval mode: the features as they are
    clean = head_inputs.pop()
    model.train()
    trainer.train_step(batch(0))
    first, second = head_inputs
    torch.testing.assert_close(first, second, rtol=0, atol=0)  # one augmented batch per step
    noisy = (first - clean).abs().amax(dim=1) > 1e-6
    assert 0 < noisy.sum() < len(noisy)  # originals and noisy copies, mixed
    trainer.train_step(batch(0))  # the same images as a new batch: new noise
    assert not torch.equal(head_inputs[2], first)
    torch.testing.assert_close(head_inputs[2], head_inputs[3], rtol=0, atol=0)


def test_batch_noise_repeats_for_one_batch_and_changes_for_the_next():
    memo, labels = {}, torch.zeros(4)

    def draw(key):
        return torch.rand(3, generator=batch_generator(memo, key, torch.device("cpu")))

    first = draw(labels)
    assert torch.equal(draw(labels), first)
    assert not torch.equal(draw(labels.clone()), first)
    assert (
        batch_generator(memo, None, torch.device("cpu")) is None
    )  # no batch key: the global stream
