"""``data.augment`` cannot apply to a feature bank (each frame encoded once): a detector that
trains from one says so and records ``data.augment.enabled: false``, what it applied."""

from __future__ import annotations

import logging

import pytest

from dfshield.config import build_config
from dfshield.engine.trainer import Trainer
from tests.helpers import toy_layer


@pytest.mark.slow  # builds a trainer
def test_a_bank_detector_records_that_image_augmentation_was_not_applied(
    toy_dataset, tmp_path, caplog
):
    source, layer = toy_layer(toy_dataset, tmp_path / "cache", epochs=1)
    extreme = {"enabled": True, "jpeg_prob": 1.0, "quality_range": [1, 5], "rotate_prob": 1.0}
    layer["data"]["augment"] = extreme
    layer["detector"]["name"] = "clip_linear"
    cfg = build_config([(source, layer)])
    with caplog.at_level(logging.WARNING):
        trainer = Trainer(cfg, tmp_path / "run")
    assert "data.augment is not applied" in caplog.text
    assert trainer.cfg.to_dict()["data"]["augment"]["enabled"] is False  # what config.json gets
