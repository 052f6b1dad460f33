"""Values that fail or warn by name before anything trains: detector head sizes and absurd
learning rates."""

from __future__ import annotations

import logging

import pytest
from torch import nn

from dfshield.detectors import build_detector
from dfshield.errors import ConfigError
from dfshield.optimizers import build_optimizer
from tests.helpers import TINY_BACKBONE


@pytest.mark.parametrize("name", ["mlp", "spcup", "robust_clip"])
@pytest.mark.parametrize(
    ("option", "match"),
    [
        ({"hidden": -3}, "detector: 'hidden' must be an integer >= 1, got -3"),
        ({"hidden": 0}, "detector: 'hidden' must be an integer >= 1, got 0"),
        ({"layers": -1}, "detector: 'layers' must be an integer >= 0, got -1"),
        ({"layers": 2.5}, "detector: 'layers' must be an integer >= 0, got 2.5"),
        ({"dropout": 1.0}, r"detector: 'dropout' must be a number in \[0, 1\), got 1.0"),
        ({"activation": "relu6"}, "detector: 'activation' must be one of .*Did you mean 'relu'"),
    ],
)
def test_head_options_out_of_range_name_the_key(name, option, match):
    with pytest.raises(ConfigError, match=match):
        build_detector({"name": name, "backbone": TINY_BACKBONE, **option})


def test_an_absurd_learning_rate_trains_with_a_warning_naming_the_key(caplog):
    model = nn.Linear(2, 1)
    with caplog.at_level(logging.WARNING):
        build_optimizer({"name": "adamw", "lr": 1.0e-3}, model)
        assert caplog.records == []
        optimizer = build_optimizer({"name": "adamw", "lr": 1.0e30}, model)
        build_optimizer({"name": "sam", "base": {"name": "sgd", "lr": 50}}, model)
    assert optimizer.param_groups[0]["lr"] == 1.0e30  # accepted: it is a warning, not an error
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("optimizer 'adamw': 'lr' is 1e+30, far above any usual")
    assert messages[1].startswith("optimizer 'sgd': 'lr' is 50, far above any usual")


def test_a_dataclass_section_is_named_by_its_dotted_path():
    from dfshield import validation

    assert validation.probability("", "data.augment.flip_prob", 1) == 1.0
    for check, value, match in [
        (validation.probability, 1.5, r"^data.x must be a probability in \[0, 1\], got 1.5$"),
        (validation.integer, 2.5, r"^data.x must be an integer, got 2.5 \(float\)$"),
        (validation.boolean, "yes", "^data.x must be true or false, got 'yes'"),
    ]:
        with pytest.raises(ConfigError, match=match):
            check("", "data.x", value)
    with pytest.raises(ConfigError, match="^data.x must be one of 'even', 'first'.*'first'"):
        validation.choice("", "data.x", "frist", ["even", "first"])
    with pytest.raises(ConfigError, match="^loss 'vs': 'x' must be a probability"):
        validation.probability("loss 'vs'", "x", -0.1)
