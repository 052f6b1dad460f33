"""Batches with at least k samples of each class (DDLN's DFDC-100/200 sampling)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dfshield.data.class_batches import MinPerClassBatches
from dfshield.errors import ConfigError


def test_every_batch_holds_k_of_each_class_and_the_epoch_keeps_its_shape():
    labels = np.array([1] * 5 + [0] * 500)  # DFDC-100's training videos
    for k in (1, 2):
        sampler = MinPerClassBatches(labels, 16, k, torch.Generator().manual_seed(0))
        batches = list(sampler)
        assert len(batches) == len(sampler) == 32 and sum(map(len, batches)) == 505
        for batch in batches:
            fakes = int(labels[batch].sum())
            assert min(fakes, len(batch) - fakes) >= min(k, len(batch) // 2)
        used = np.bincount(np.concatenate(batches), minlength=505)
        assert used[5:].max() == 1  # a real at most once an epoch
        assert used[:5].min() >= 32 * k // 5  # every fake recurs about equally often
        assert used[:5].max() - used[:5].min() <= 1


def test_a_plain_shuffle_would_leave_most_batches_without_a_fake():
    labels = np.array([1] * 5 + [0] * 500)
    order = torch.randperm(505, generator=torch.Generator().manual_seed(0)).tolist()
    without = sum(labels[order[s : s + 16]].sum() == 0 for s in range(0, 505, 16))
    assert without > 20  # what the sampler is for


def test_the_sampler_is_seeded_and_drops_a_last_batch_when_asked():
    labels = np.arange(100) % 2
    first = list(MinPerClassBatches(labels, 16, 1, torch.Generator().manual_seed(3), True))
    again = list(MinPerClassBatches(labels, 16, 1, torch.Generator().manual_seed(3), True))
    assert first == again and len(first) == 6 and all(len(b) == 16 for b in first)


@pytest.mark.parametrize(
    "labels, batch_size, k, match",
    [
        ([0, 1] * 8, 4, 3, "asks for 6 samples a batch but train.batch_size is 4"),
        ([0] * 16, 8, 1, "needs fake training samples and there are none"),
    ],
)
def test_impossible_requests_are_named(labels, batch_size, k, match):
    with pytest.raises(ConfigError, match=match):
        MinPerClassBatches(labels, batch_size, k, torch.Generator())
