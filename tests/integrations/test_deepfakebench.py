"""DeepfakeBench both ways (docs/deepfakebench.md): dfshield detectors driven through their
registry and trainer's call sequence, their detector classes trained and tested by dfshield, and
checkpoints exported and imported. Their side is written from their interface in
``tests/deepfakebench_style.py``."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
import yaml

from dfshield.detectors import build_detector, check_detector
from dfshield.detectors.deepfakebench_wrapper import DeepfakeBenchDetector
from dfshield.detectors.latent_augment import latent_augment, latent_mix
from dfshield.errors import CheckpointError, ConfigError, DataError, UnknownNameError
from dfshield.integrations.deepfakebench import (
    backbone_input,
    deepfakebench_class,
    export_checkpoint,
    import_checkpoint,
    their_test_folder,
)
from dfshield.integrations.deepfakebench_train import recipe_optimizer, use_recipe
from dfshield.losses import build_loss, fake_logit
from dfshield.optimizers.sam import SAM as OurSAM
from dfshield.registry import DETECTOR
from tests.deepfakebench_style import (
    SAM,
    TinyNet,
    Trainer,
    calculate_metrics_for_train,
    their_checkout,
)
from tests.helpers import TINY_BACKBONE, toy_image

NORMAL = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """(conftest's ``one_thread``, for every test of this file)"""


@pytest.fixture
def their_detectors(tmp_path, monkeypatch):
    """Their ``DETECTOR`` after importing their ``detectors`` package (the documented line
    included); their modules are forgotten afterwards."""
    monkeypatch.syspath_prepend(str(their_checkout(tmp_path)))
    import detectors  # noqa: F401  (their package: registers)
    from metrics.registry import DETECTOR as theirs

    yield theirs
    for name in ("detectors", "metrics", "metrics.registry"):
        sys.modules.pop(name, None)


def their_config(toy_dataset, model_name="spcup", **extra) -> dict:
    """A DeepfakeBench config as their train.py assembles it (detector YAML + train_config)."""
    return {
        "model_name": model_name,
        "resolution": 96,
        **NORMAL,
        "label_dict": toy_dataset["label_dict"],
        "train_dataset": [toy_dataset["name"]],
        "dataset_json_folder": toy_dataset["json_dir"],
        "frame_num": {"train": 32, "test": 32},
        "optimizer": {"type": "sam", "sam": {"lr": 0.002}},
        "dfshield": {"detector": {"backbone": dict(TINY_BACKBONE)}},
        **extra,
    }


def their_batches(n_batches: int, size: int = 96, batch: int = 16, seed: int = 0) -> list[dict]:
    """Toy frames as their loader gives them: ``resolution``², ``(x - 0.5) / 0.5``."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(n_batches):
        labels = rng.permutation(np.arange(batch) % 2)
        images = np.stack([toy_image(rng, bool(y), size) for y in labels])
        tensor = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
        batches.append(
            {
                "image": (tensor - 0.5) / 0.5,
                "label": torch.from_numpy(labels).long(),
                "mask": None,
                "landmark": None,
            }
        )
    return batches


# -- into DeepfakeBench ------------------------------------------------------------------------
def test_the_documented_line_registers_every_frame_detector(their_detectors):
    assert {"spcup", "robust_clip", "clip_linear", "mlp", "rdaa"} <= set(their_detectors.data)
    assert "ddln" not in their_detectors.data and "deepfakebench" not in their_detectors.data
    assert their_detectors["spcup"] is deepfakebench_class("spcup")


@pytest.mark.slow
def test_spcup_trains_through_their_trainer_call_sequence(toy_dataset, their_detectors):
    config = their_config(toy_dataset)  # no class_counts: VS weights from their training JSON
    torch.manual_seed(0)
    model = their_detectors[config["model_name"]](config)
    assert model.loss_fn.terms[0].base.weights["fake"] != 1.0  # balanced, not uniform
    optimizer = SAM(model.parameters(), torch.optim.Adam, rho=0.05, lr=0.002)
    trainer = Trainer(config, model, optimizer)
    batches = their_batches(2, batch=8)
    losses = []
    for _ in range(8):
        for data_dict in batches:
            step_losses, batch_metrics = trainer.train_batch(data_dict)
            losses.append(float(step_losses["overall"].detach()))
            assert set(batch_metrics) == {"acc", "auc", "eer", "ap"}
            assert all(np.isfinite(v) for v in batch_metrics.values())
    assert {"cvar", "auc_logistic"} <= set(step_losses)  # the loss's terms, as they log them
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    probs, labels, feats = trainer.test_epoch(their_batches(2, batch=8, seed=1))
    assert probs.shape == labels.shape == (16,) and feats.shape == (16, 64)
    model.eval()
    with torch.no_grad():
        pred = model(batches[0], inference=True)
    auc, eer, acc, ap = calculate_metrics_for_train(batches[0]["label"], pred["cls"])
    assert all(np.isfinite(v) for v in (auc, eer, acc, ap))


def test_two_logits_give_the_same_probability_as_ours(toy_dataset):
    model = deepfakebench_class("spcup")(their_config(toy_dataset, class_counts=COUNTS)).eval()
    with torch.no_grad():
        pred = model(their_batches(1)[0], inference=True)
    assert pred["cls"].shape == (16, 2)
    torch.testing.assert_close(torch.softmax(pred["cls"], 1)[:, 1], torch.sigmoid(pred["logit"]))
    torch.testing.assert_close(pred["prob"], torch.sigmoid(pred["logit"]))
    # dfshield's losses and evaluator read two logits as the logit of fake
    labels = their_batches(1)[0]["label"]
    torch.testing.assert_close(fake_logit(pred["cls"]), pred["logit"])
    bce = build_loss({"name": "bce"})
    torch.testing.assert_close(bce(pred["cls"], labels), bce(pred["logit"], labels))


COUNTS = {"real": 30, "fake": 10}


def test_their_images_reach_the_backbone_as_our_loader_prepares_them():
    from dfshield.scoring.scorer import frame_preprocessor

    detector = build_detector({"name": "spcup", "backbone": dict(TINY_BACKBONE)})
    rng = np.random.default_rng(3)
    image = toy_image(rng, True, 256)
    ours = frame_preprocessor(detector.input_spec())(image)  # = DeepfakeDataset's test frame
    theirs = (torch.from_numpy(image).permute(2, 0, 1).float() / 255 - 0.5) / 0.5
    adapted = backbone_input(theirs[None], (256, (0.5,) * 3, (0.5,) * 3), detector.backbone)[0]
    assert adapted.shape == ours.shape == (3, 64, 64)
    one_grey_level = 1.5 / 255 / min(detector.backbone.std)
    assert float((adapted - ours).abs().max()) < one_grey_level
    assert float((adapted - ours).abs().mean()) < 0.2 * one_grey_level


@pytest.mark.parametrize("key", ["resolution", "mean", "std", "label_dict"])
def test_a_config_without_a_required_key_names_it(toy_dataset, key):
    config = their_config(toy_dataset, class_counts=COUNTS)
    del config[key]
    with pytest.raises(ConfigError, match=rf"has no {key}.*train_config.yaml"):
        deepfakebench_class("spcup")(config)


def test_bad_deepfakebench_configs_are_named_with_their_fix(toy_dataset, tmp_path):
    build = deepfakebench_class("spcup")
    with pytest.raises(UnknownNameError, match="unknown detector 'spcupp'.*Did you mean 'spcup'"):
        deepfakebench_class("spcupp")
    with pytest.raises(ConfigError, match="only frame detectors register there"):
        deepfakebench_class("ddln")
    with pytest.raises(ConfigError, match="model_name 'xception' but builds dfshield's 'spcup'"):
        build(their_config(toy_dataset, "xception", class_counts=COUNTS))
    with pytest.raises(ConfigError, match="'scheduler'; it takes only detector:, loss: and opt"):
        build(their_config(toy_dataset, dfshield={"scheduler": {"name": "cosine"}}))
    with pytest.raises(ConfigError, match="resolution in the DeepfakeBench config"):
        build(their_config(toy_dataset, resolution="256", class_counts=COUNTS))
    bad = their_config(toy_dataset, dataset_json_folder=str(tmp_path / "none"))
    with pytest.raises(DataError, match="set class_counts: {real: N_REAL, fake: N_FAKE}"):
        build(bad)
    del bad["train_dataset"]
    with pytest.raises(ConfigError, match="has no train_dataset"):
        build(bad)


def test_class_counts_from_their_json_are_the_training_frames(toy_dataset):
    model = deepfakebench_class("spcup")(their_config(toy_dataset))
    n_real, n_fake = _train_frames(toy_dataset)
    assert n_real != n_fake  # the toy set is imbalanced: uniform weights would show
    assert model.loss_fn.terms[0].base.weights == pytest.approx(
        {"fake": (n_real + n_fake) / (2 * n_fake), "real": (n_real + n_fake) / (2 * n_real)}
    )


def _train_frames(toy_dataset) -> tuple[int, int]:
    from dfshield.data.index import read_split

    records = read_split(
        toy_dataset["json_dir"], toy_dataset["name"], "train", label_dict=toy_dataset["label_dict"]
    )
    real = sum(len(r.frames) for r in records if r.label == 0)
    return real, sum(len(r.frames) for r in records if r.label == 1)


# -- latent augmentation -----------------------------------------------------------------------
def _row_noise(augmented: torch.Tensor, clean: torch.Tensor) -> np.ndarray:
    return (augmented - clean).std(dim=1).numpy()


def test_latent_augmentation_has_the_same_statistics_in_forward_and_in_the_bank(monkeypatch):
    torch.manual_seed(0)
    detector = build_detector({"name": "spcup", "backbone": dict(TINY_BACKBONE)}).train()
    clean = torch.randn(4000, 64)
    # "images" that the backbone passes through as features: the detector's own forward path
    monkeypatch.setattr(detector.backbone, "forward", lambda images: images)
    in_forward = _row_noise(detector.features({"image": clean}), clean)
    rows, _ = detector.augment_features(clean, torch.zeros(4000), torch.Generator().manual_seed(1))
    in_bank = _row_noise(rows, torch.cat([clean, clean]))
    noisy_forward, noisy_bank = in_forward[in_forward > 0], in_bank[in_bank > 0]
    assert len(noisy_forward) / len(in_forward) == pytest.approx(0.5, abs=0.05)
    assert len(noisy_bank) / len(in_bank) == 0.5
    # β ~ U(0,1), σ ~ U(0,1): per-row noise std β·σ, mean 1/4, same quartiles in both paths
    for quantile in (0.25, 0.5, 0.75):
        assert np.quantile(noisy_forward, quantile) == pytest.approx(
            np.quantile(noisy_bank, quantile), abs=0.02
        )
    assert noisy_forward.mean() == pytest.approx(0.25, abs=0.01)
    detector.eval()  # scoring: no augmentation; bank rows: augmented by the bank, not again
    torch.testing.assert_close(detector.features({"image": clean[:8]}), clean[:8])
    detector.train()
    torch.testing.assert_close(detector.features({"feature": clean[:8]}), clean[:8])


def test_latent_mix_and_the_bank_draw_the_same_noisy_copies():
    features = torch.randn(4000, 16)
    mixed = latent_mix(features, 0.5, torch.Generator().manual_seed(0))
    banked, _ = latent_augment(features, torch.zeros(4000), 0.5, torch.Generator().manual_seed(0))
    noise = mixed - features
    changed = noise.abs().sum(1) > 0
    assert changed.float().mean().item() == pytest.approx(0.5, abs=0.03)
    # Var(β·σ·η) = β²·E[σ²] = 0.25 / 3 in both
    assert noise[changed].var().item() == pytest.approx(0.25 / 3, rel=0.08)
    assert (banked[4000:] - features).var().item() == pytest.approx(0.25 / 3, rel=0.08)


def test_a_trainable_backbone_gets_latent_augmentation_in_forward():
    torch.manual_seed(0)
    backbone = {"name": "timm", "model": "resnet10t", "pretrained": False, "image_size": 32}
    detector = build_detector({"name": "mlp", "backbone": backbone, "dropout": 0.0}).train()
    assert not detector.uses_feature_bank
    images = torch.randn(64, 3, 32, 32)
    detector.backbone.eval()  # fixed BatchNorm statistics: only the augmentation differs
    with torch.no_grad():
        clean = detector.backbone(images)
        changed = (detector.features({"image": images}) - clean).abs().sum(1) > 0
    assert 0.25 < changed.float().mean().item() < 0.75


# -- from DeepfakeBench ------------------------------------------------------------------------
TINY_NET_CONFIG = {"model_name": "tiny_xception", "resolution": 32, **NORMAL}


def test_their_class_keeps_the_dfshield_contract(their_detectors):
    for spec in (
        "tiny_xception",
        "tests.deepfakebench_style:TinyNet",
    ):  # their registry, module path
        detector = check_detector(
            DeepfakeBenchDetector, {"class": spec, "config": TINY_NET_CONFIG, "backbone": None}
        )
        assert isinstance(detector.network, TinyNet)
        assert detector.input_spec()["resolution"] == 32
        assert detector.input_spec()["mean"] == (0.5, 0.5, 0.5)


def test_their_loss_unless_ours_is_given():
    detector = build_detector(
        {
            "name": "deepfakebench",
            "class": "tests.deepfakebench_style:TinyNet",
            "config": TINY_NET_CONFIG,
        }
    )
    data = their_batches(1, size=32)[0]
    pred = detector(data)
    torch.testing.assert_close(torch.sigmoid(pred["cls"]), pred["deepfakebench"]["prob"])
    detector.build_loss({})
    theirs = detector.get_losses(data, pred)
    assert set(theirs) == {"overall", "cls"}  # their get_losses: cross-entropy
    expected = torch.nn.functional.cross_entropy(pred["deepfakebench"]["cls"], data["label"])
    torch.testing.assert_close(theirs["overall"], expected)
    detector.build_loss({"name": "focal"})
    assert not torch.allclose(detector.get_losses(data, pred)["overall"], expected)


def test_their_class_registered_in_ours_builds_as_the_wrapper(monkeypatch):
    monkeypatch.setitem(DETECTOR._entries, "tiny_registered", TinyNet)
    detector = build_detector({"name": "tiny_registered", "config": TINY_NET_CONFIG})
    assert isinstance(detector, DeepfakeBenchDetector)
    assert detector.backbone.class_name.endswith("TinyNet")


def test_bad_wrapper_options_are_named():
    config = {"class": "tests.deepfakebench_style:TinyNet", "config": TINY_NET_CONFIG}
    with pytest.raises(ConfigError, match="remove detector.backbone"):
        DeepfakeBenchDetector(**config, backbone=dict(TINY_BACKBONE))
    with pytest.raises(ConfigError, match="has no option 'clas'"):
        DeepfakeBenchDetector(config=TINY_NET_CONFIG, clas="x")
    with pytest.raises(ConfigError, match="has no resolution"):
        DeepfakeBenchDetector(**{**config, "config": {"model_name": "x", **NORMAL}})
    with pytest.raises(ConfigError, match="class 'xception' is not in DeepfakeBench's registry"):
        DeepfakeBenchDetector(**{**config, "class": "xception"})
    with pytest.raises(ConfigError, match="has no 'Nope'"):
        DeepfakeBenchDetector(**{**config, "class": "tests.deepfakebench_style:Nope"})
    with pytest.raises(ConfigError, match="not a DeepfakeBench-style detector class"):
        DeepfakeBenchDetector(**{**config, "class": "tests.deepfakebench_style:Registry"})


PLUGIN = """\
from tests.deepfakebench_style import TinyNet
from dfshield.registry import DETECTOR

DETECTOR.register_module(module_name="tiny_xception", module=TinyNet)
"""


@pytest.fixture
def toy_protocol(toy_dataset, tmp_path):
    from tests.helpers import toy_layer

    _, layer = toy_layer(toy_dataset, tmp_path, epochs=1)
    layer.pop("detector")
    path = tmp_path / "protocol.yaml"
    path.write_text(yaml.safe_dump(layer))
    return path


@pytest.mark.e2e
@pytest.mark.slow
def test_their_class_trains_in_dfshield_and_round_trips_through_export(toy_protocol, tmp_path):
    from dfshield.cli import main

    plugin = tmp_path / "their_plugin.py"
    plugin.write_text(PLUGIN)
    detector_file = tmp_path / "tiny_xception.yaml"
    detector_file.write_text(
        yaml.safe_dump(
            {
                "detector": {"name": "tiny_xception", "config": TINY_NET_CONFIG},
                "optimizer": {"name": "adam", "lr": 0.01},
            }
        )
    )
    run = tmp_path / "run"
    try:
        assert (
            main(
                ["--import", str(plugin), "train", "--config", str(detector_file)]
                + ["--protocol", str(toy_protocol), "--run-dir", str(run)]
            )
            == 0
        )
        trained = json.loads((run / "test_metrics.json").read_text())
        out = tmp_path / "ckpt_best.pth"
        assert main(["export", str(run / "checkpoints" / "best.pt"), str(out)]) == 0
        state = torch.load(out, weights_only=True)
        their_model = TinyNet(yaml.safe_load(out.with_suffix(".yaml").read_text()))
        their_model.load_state_dict(state, strict=True)  # as their test.py loads it
        imported = tmp_path / "imported"
        args = [
            "test",
            "--checkpoint",
            str(out),
            "--detector-config",
            str(out.with_suffix(".yaml")),
        ]
        assert main([*args, "--protocol", str(toy_protocol), "--out", str(imported)]) == 0
        again = json.loads((imported / "test_metrics.json").read_text())
        assert again["auc"] == pytest.approx(trained["auc"], abs=1e-6)
        assert again["video_auc"] == pytest.approx(trained["video_auc"], abs=1e-6)
        assert again["eer_dfb"] == pytest.approx(trained["eer_dfb"], abs=1e-6)
        rows = json.loads((imported / "results.json").read_text())["rows"]
        assert rows[0]["detector"].startswith("tiny_xception")  # their model_name, not the wrapper
        assert "EER (DFB)" in (imported / "results.md").read_text()
    finally:
        DETECTOR._entries.pop("tiny_xception", None)


@pytest.mark.slow
def test_our_checkpoint_exports_to_their_test_and_back(toy_dataset, tmp_path, their_detectors):
    from dfshield.scoring.scorer import Scorer
    from tests.helpers import train_tiny_checkpoint

    trained = train_tiny_checkpoint(toy_dataset, tmp_path)
    out = tmp_path / "clip_linear.pth"
    export_checkpoint(trained["checkpoint"], out)
    lines = yaml.safe_load(out.with_suffix(".yaml").read_text())
    assert lines["model_name"] == "clip_linear" and "backbone" in lines["dfshield"]["detector"]
    config = {**lines, "resolution": 32, **NORMAL, "label_dict": toy_dataset["label_dict"]}
    model = their_detectors[config["model_name"]](config)
    state = torch.load(out, weights_only=True)
    assert state and not any(key.startswith("backbone.") for key in state)  # rebuilt by name
    assert model.state_dict().keys() == state.keys()  # what their trainer saves
    model.load_state_dict(state, strict=True)  # as their test.py loads it
    model.eval()
    batch = their_batches(1, size=32)[0]
    with torch.no_grad():
        theirs = model(batch, inference=True)["prob"].numpy()
    images = [
        ((b.permute(1, 2, 0) * 0.5 + 0.5) * 255).round().byte().numpy() for b in batch["image"]
    ]
    _, ours = Scorer.from_checkpoint(trained["checkpoint"], device="cpu").score_images(images)
    np.testing.assert_allclose(theirs, ours, atol=2e-3)
    their_yaml = tmp_path / "their.yaml"
    their_yaml.write_text(yaml.safe_dump(config))
    payload = import_checkpoint(out, their_yaml)
    assert payload["detector"] == "clip_linear"
    # a checkpoint of another detector, and a dfshield checkpoint, are named with the fix
    tiny_yaml = tmp_path / "tiny.yaml"
    tiny_yaml.write_text(yaml.safe_dump(TINY_NET_CONFIG))
    with pytest.raises(CheckpointError, match=r"does not fit DeepfakeBench detector 'tiny_xcep"):
        import_checkpoint(out, tiny_yaml)
    with pytest.raises(CheckpointError, match="is a dfshield checkpoint .*drop --detector-config"):
        import_checkpoint(trained["checkpoint"], their_yaml)


def test_dfshield_test_on_their_run_writes_a_folder_that_says_so(tmp_path):
    ckpt = tmp_path / "xception_2024-01-01-00-00-00" / "test" / "avg" / "ckpt_best.pth"
    assert their_test_folder(ckpt) == ckpt.parents[2] / "dfshield_test_avg"
    assert their_test_folder(tmp_path / "w.pth") == tmp_path / "dfshield_test_w"


def test_their_trainer_checkpoint_leaves_the_frozen_backbone_out_and_loads_strictly(
    toy_dataset, tmp_path
):
    config = their_config(toy_dataset, class_counts=COUNTS)
    torch.manual_seed(0)
    model = deepfakebench_class("spcup")(config)
    with torch.no_grad():
        for parameter in model.head.parameters():
            parameter.add_(1.0)
    path = tmp_path / "ckpt_best.pth"
    torch.save(model.state_dict(), path)  # their trainer's save_ckpt
    state = torch.load(path, weights_only=True)
    assert state and not any(key.startswith("backbone.") for key in state)
    full = torch.nn.Module.state_dict(model)  # with the backbone, as before
    assert any(key.startswith("backbone.") for key in full)
    fresh = deepfakebench_class("spcup")(config)  # their test.py: build, then strict load
    fresh.load_state_dict(state, strict=True)
    fresh.load_state_dict(full, strict=True)  # a file that holds the backbone loads as before
    batch = their_batches(1, batch=4)[0]
    model.eval(), fresh.eval()
    with torch.no_grad():
        torch.testing.assert_close(fresh(batch)["prob"], model(batch)["prob"])
    with pytest.raises(RuntimeError, match="Missing key"):
        fresh.load_state_dict({k: v for k, v in state.items() if "head" not in k}, strict=True)


# -- spcup's own optimizer in their trainer (dfshield.integrations.deepfakebench_train) ------
RECIPE = {"name": "sam", "rho": 0.1, "base": {"name": "adamw", "lr": 1.0e-3, "weight_decay": 6e-5}}


def _config(toy_dataset, optimizer_type="sam", recipe=RECIPE):
    dfshield = {"detector": {"backbone": dict(TINY_BACKBONE)}}
    if recipe is not None:
        dfshield["optimizer"] = recipe
    return their_config(
        toy_dataset,
        class_counts=COUNTS,
        optimizer={"type": optimizer_type, "sam": {"lr": 0.1, "momentum": 0.9}},
        dfshield=dfshield,
    )


def test_their_trainer_runs_sam_around_adamw_from_their_yaml(toy_dataset):
    class TheirTrainer(Trainer):  # patched here, not their class for every test
        pass

    use_recipe(TheirTrainer)
    config = _config(toy_dataset)
    torch.manual_seed(0)
    model = deepfakebench_class("spcup")(config)
    theirs = SAM(model.parameters(), torch.optim.SGD, lr=0.1, momentum=0.9)  # choose_optimizer
    trainer = TheirTrainer(config, model, theirs)
    assert isinstance(trainer.optimizer, OurSAM)
    assert isinstance(trainer.optimizer.base_optimizer, torch.optim.AdamW)
    trained = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert not trained & {id(p) for p in model.backbone.parameters()}  # frozen: not stepped
    before = [p.detach().clone() for p in model.head.parameters()]
    for data_dict in their_batches(2, batch=8):
        losses, _ = trainer.train_batch(data_dict)  # their two passes: first_step, second_step
        assert torch.isfinite(losses["overall"])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.head.parameters()))


def test_their_optimizer_is_kept_without_ours_and_a_mismatch_is_named(toy_dataset):
    model = deepfakebench_class("spcup")(_config(toy_dataset, recipe=None))
    assert recipe_optimizer(model, _config(toy_dataset, recipe=None)) is None
    with pytest.raises(ConfigError, match="set optimizer.type: sam in their YAML"):
        recipe_optimizer(model, _config(toy_dataset, optimizer_type="adam"))
    adamw = {"name": "adamw", "lr": 1e-3}
    with pytest.raises(ConfigError, match="set optimizer.type: adam"):
        recipe_optimizer(model, _config(toy_dataset, recipe=adamw))
    assert isinstance(
        recipe_optimizer(model, _config(toy_dataset, "adam", adamw)), torch.optim.AdamW
    )
