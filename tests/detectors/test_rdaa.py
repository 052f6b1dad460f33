"""rdaa (docs/methods.md §5): training behaviour, gradient reversal, calibration, losses, options
and config."""

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import dfshield.detectors.rdaa as rdaa
from dfshield.config import load_run_config
from dfshield.detectors import build_detector
from dfshield.errors import ConfigError
from dfshield.optimizers import build_optimizer
from dfshield.registry import DETECTOR

TINY = {"name": "clip", "model": "dfshield-tiny-vit", "pretrained": None}  # 64-d features
SMALL = dict(
    code_dim=32,
    ae_hidden=64,
    num_tokens=4,
    token_dim=32,
    heads=4,
    teacher_depth=1,
    student_depth=1,
    augmenter_hidden=64,
)
CONFIG = Path(__file__).resolve().parents[2] / "configs" / "detectors" / "rdaa.yaml"


def make_detector(seed=0, **options):
    torch.manual_seed(seed)
    return rdaa.RDAADetector(backbone=TINY, **{**SMALL, **options})


def separable(n, seed, dim=64):
    """Reals and fakes (alternating): unit Gaussians 4 apart along one axis (Bayes AUC ≈ 0.998)."""
    generator = torch.Generator().manual_seed(seed)
    direction = torch.randn(dim, generator=torch.Generator().manual_seed(12345))
    direction = direction / direction.norm()
    labels = torch.arange(n) % 2
    features = (
        torch.randn(n, dim, generator=generator) + (4.0 * labels.float() - 2.0)[:, None] * direction
    )
    return features, labels


@torch.no_grad()
def evaluate(detector, features):
    detector.eval()
    pred = detector({"feature": features, "image": None})
    detector.train()
    return pred


def train(detector, features, labels, steps, batch=64, lr=1e-3, seed=0):
    optimizer = build_optimizer({"name": "adamw", "lr": lr}, detector)
    order = torch.Generator().manual_seed(seed)
    detector.train()
    for _ in range(steps):
        index = torch.randperm(len(labels), generator=order)[:batch]
        data = {"feature": features[index], "label": labels[index], "image": None}

        def closure(data=data):
            optimizer.zero_grad()
            loss = detector.get_losses(data, detector(data))["overall"]
            loss.backward()
            return loss

        optimizer.step(closure)
    return detector


@pytest.fixture(scope="module")
def trained():
    detector = make_detector()
    train_x, train_y = separable(256, seed=1)
    test_x, test_y = separable(512, seed=2)
    before = evaluate(detector, test_x)["discrepancy"]
    train(detector, train_x, train_y, steps=40)
    return {
        "detector": detector,
        "test": (test_x, test_y),
        "before": before,
        "after": evaluate(detector, test_x),
    }


# -- training behaviour ------------------------------------------------------------------------
@pytest.mark.slow
def test_discrepancy_grows_for_fakes_and_shrinks_for_reals(trained):
    _, labels = trained["test"]
    before, after = trained["before"], trained["after"]["discrepancy"]
    fake, real = labels == 1, labels == 0
    assert after[fake].mean() > before[fake].mean() + 0.3
    assert after[real].mean() < before[real].mean() - 0.5
    assert after[real].mean() < 0.5 < trained["detector"].margin - 0.5 < after[fake].mean()


@pytest.mark.slow
def test_held_out_auc_of_the_logit_is_high(trained):
    _, labels = trained["test"]
    logits = trained["after"]["cls"]
    assert roc_auc_score(labels.numpy(), logits.numpy()) > 0.9
    assert roc_auc_score(labels.numpy(), trained["after"]["discrepancy"].numpy()) > 0.9


@pytest.mark.slow
def test_forward_outputs_and_eval_without_labels(trained):
    detector = trained["detector"]
    features, _ = trained["test"]
    pred = evaluate(detector, features[:5])
    assert set(pred) == {"cls", "prob", "feat", "discrepancy", "recon_error", "teacher_cls"}
    assert pred["cls"].shape == pred["prob"].shape == pred["discrepancy"].shape == (5,)
    assert pred["feat"].shape == (5, 32)
    torch.testing.assert_close(pred["prob"], torch.sigmoid(pred["cls"]))
    torch.testing.assert_close(detector.classifier(features[:5]).detach(), pred["cls"])
    assert ((pred["discrepancy"] >= 0) & (pred["discrepancy"] <= 4 + 1e-4)).all()


def test_discrepancy_is_two_minus_twice_the_correlation():
    generator = torch.Generator().manual_seed(10)
    teacher, student = (
        torch.randn(6, 50, generator=generator),
        torch.randn(6, 50, generator=generator),
    )
    student[0] = -teacher[0]
    rho = np.array([np.corrcoef(t, s)[0, 1] for t, s in zip(teacher.numpy(), student.numpy())])
    torch.testing.assert_close(
        rdaa.discrepancy(teacher, student),
        torch.tensor(2 * (1 - rho), dtype=torch.float32),
        atol=1e-4,
        rtol=0,
    )
    assert rdaa.discrepancy(3 * teacher + 1, teacher).abs().max() < 1e-4  # scale-free
    torch.testing.assert_close(
        rdaa.standardise(3 * teacher + 1), torch.nn.functional.layer_norm(3 * teacher + 1, (50,))
    )


# -- gradient reversal and the adversarial game ---------------------------------------------
@pytest.mark.parametrize("scale", [1.0, 0.3, 0.0])
def test_gradient_reversal_keeps_the_value_and_negates_the_gradient(scale):
    x = torch.randn(4, 3, requires_grad=True)
    upstream = torch.randn(4, 3)
    y = rdaa.reverse_gradient(x, scale)
    assert torch.equal(y, x.detach())
    (y * upstream).sum().backward()
    torch.testing.assert_close(x.grad, -scale * upstream)


def _augmented_discrepancy(detector, code):
    augmented = detector.augment(code, torch.ones(len(code), dtype=torch.bool))
    return rdaa.discrepancy(detector.teacher_target(augmented), detector.student(augmented))


def _augmented_mean(detector, code, seed):
    torch.manual_seed(seed)
    return _augmented_discrepancy(detector, code).mean()


def test_one_backward_pass_moves_augmenter_down_and_student_up():
    """Equivalence of the GRL with the min-max game: after one backward pass of the augmented hinge,
    a small descent step on G alone lowers the augmented-fake discrepancy and one on the student
    alone raises it (margin 4: the hinge is active everywhere, so its gradient is −∇d)."""
    detector = make_detector(margin=4.0, augment_radius=1.0)
    code = rdaa.standardise(torch.randn(32, 32))
    start = _augmented_mean(detector, code, seed=7)
    torch.manual_seed(7)
    hinge = torch.relu(detector.margin - _augmented_discrepancy(detector, code)).mean()
    hinge.backward()

    def after_step(module):
        saved = [p.detach().clone() for p in module.parameters()]
        with torch.no_grad():
            for p in module.parameters():
                p -= 1e-2 * p.grad
            value = _augmented_mean(detector, code, seed=7)
            for p, old in zip(module.parameters(), saved):
                p.copy_(old)
        return value

    assert after_step(detector.augmenter) < start - 1e-6  # G reduces the fake discrepancy
    assert after_step(detector.student) > start + 1e-6  # the student keeps it large
    assert all(p.grad is None for p in detector.teacher.parameters())  # teacher untouched


def test_teacher_learns_only_from_its_bce():
    detector = make_detector()
    features, labels = separable(16, seed=3)
    data = {"feature": features, "label": labels, "image": None}
    detector.weights = {name: 0.0 for name in rdaa.DEFAULT_WEIGHTS} | {
        "real_discrepancy": 1.0,
        "fake_hinge": 1.0,
        "augmented_hinge": 1.0,
    }
    detector.get_losses(data, detector(data))["overall"].backward()
    assert all(p.grad is None or not p.grad.any() for p in detector.teacher.parameters())
    assert any(p.grad is not None and p.grad.any() for p in detector.encoder.parameters())
    detector.zero_grad()
    detector.weights = {name: 0.0 for name in rdaa.DEFAULT_WEIGHTS} | {"teacher_bce": 1.0}
    detector.get_losses(data, detector(data))["overall"].backward()
    assert any(p.grad is not None and p.grad.any() for p in detector.teacher.parameters())


@pytest.mark.slow
def test_frozen_teacher_is_never_trained():
    detector = make_detector(teacher="frozen")
    before = [p.detach().clone() for p in detector.teacher.parameters()]
    features, labels = separable(64, seed=4)
    train(detector, features, labels, steps=3)
    assert all(torch.equal(a, b) for a, b in zip(before, detector.teacher.parameters()))
    data = {"feature": features[:8], "label": labels[:8], "image": None}
    losses = detector.get_losses(data, detector(data))
    assert float(losses["teacher_bce"].detach()) == 0.0 and "teacher_cls" not in detector(data)


# -- calibration ---------------------------------------------------------------------------------
@pytest.mark.parametrize("raw_scale", [None, -20.0, 3.0])
def test_higher_discrepancy_gives_higher_probability(raw_scale):
    detector = make_detector()
    with torch.no_grad():
        if raw_scale is not None:
            detector.calib_scale_raw.fill_(raw_scale)
        detector.calib_threshold.fill_(0.7)
        d = torch.linspace(0, 4, 101)
        logits = detector.calibrate(d)
    assert (logits[1:] > logits[:-1]).all()
    assert (torch.sigmoid(logits)[1:] >= torch.sigmoid(logits)[:-1]).all()


@pytest.mark.slow
def test_probability_orders_samples_like_the_discrepancy(trained):
    after = trained["after"]
    order = torch.argsort(after["discrepancy"])
    assert (after["prob"][order][1:] >= after["prob"][order][:-1]).all()


def test_initial_calibration_centres_on_half_the_margin():
    detector = make_detector(margin=1.5)
    with torch.no_grad():
        logits = detector.calibrate(torch.tensor([0.75, 0.0]))
    torch.testing.assert_close(logits, torch.tensor([0.0, -0.75 * 4.0 / 1.5]))


# -- losses ------------------------------------------------------------------------------------
@pytest.mark.parametrize("label", [0, 1])
def test_one_class_batches_give_finite_losses_and_gradients(label):
    detector = make_detector()
    features, _ = separable(8, seed=5)
    data = {"feature": features, "label": torch.full((8,), label), "image": None}
    losses = detector.get_losses(data, detector(data))
    assert set(losses) == {"overall", *rdaa.DEFAULT_WEIGHTS}
    assert all(torch.isfinite(value) for value in losses.values())
    losses["overall"].backward()
    grads = [p.grad for p in detector.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    if label == 0:
        assert (
            float(losses["fake_hinge"].detach()) == float(losses["augmented_hinge"].detach()) == 0.0
        )
    else:
        assert (
            float(losses["real_discrepancy"].detach())
            == float(losses["compactness"].detach())
            == 0.0
        )


@pytest.mark.slow
def test_augmenting_every_row_or_only_the_fakes_gives_the_same_losses_and_gradients(
    monkeypatch,
):
    """The CPU augments only the fakes; an accelerator augments every row and weights the fakes
    (no host read of the labels). Same noise per row, so the same values and gradients."""
    features, labels = separable(24, seed=11)
    labels[:3] = 1  # 15 fakes, 9 reals
    data = {"feature": features, "label": labels, "image": None}
    results = []
    for host in (True, False):
        monkeypatch.setattr(rdaa, "selects_on_host", lambda tensor, host=host: host)
        detector = make_detector(seed=4)
        torch.manual_seed(12)
        pred = detector(data)
        losses = detector.get_losses(data, pred)
        losses["overall"].backward()
        assert pred["augmented_discrepancy"].shape == (24,)
        fake = labels == 1
        torch.testing.assert_close(
            losses["augmented_hinge"],
            torch.relu(detector.margin - pred["augmented_discrepancy"][fake]).mean(),
        )
        grads = {n: p.grad.clone() for n, p in detector.named_parameters() if p.grad is not None}
        results.append((losses, grads, detector.center.clone()))
    (host_losses, host_grads, host_center), (all_losses, all_grads, all_center) = results
    for name, value in host_losses.items():
        torch.testing.assert_close(all_losses[name], value, rtol=1e-5, atol=1e-6)
    assert host_grads.keys() == all_grads.keys() and any(
        name.startswith("augmenter.") for name in host_grads
    )
    for name, grad in host_grads.items():
        torch.testing.assert_close(all_grads[name], grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(all_center, host_center)


def test_overall_is_the_weighted_sum_of_the_terms():
    weights = {"compactness": 0.4, "augmented_hinge": 0.0, "reconstruction": 2.0}
    detector = make_detector(weights=weights)
    features, labels = separable(16, seed=6)
    data = {"feature": features, "label": labels, "image": None}
    losses = detector.get_losses(data, detector(data))
    expected = sum(
        {**rdaa.DEFAULT_WEIGHTS, **weights}[k] * v for k, v in losses.items() if k != "overall"
    )
    torch.testing.assert_close(losses["overall"], expected)
    d = detector(data)["discrepancy"]  # deterministic: same parameters, same discrepancy
    torch.testing.assert_close(losses["real_discrepancy"], d[labels == 0].mean())
    torch.testing.assert_close(
        losses["fake_hinge"], torch.relu(detector.margin - d[labels == 1]).mean()
    )


def test_center_is_an_ema_of_real_codes_updated_in_training_only():
    detector = make_detector(center_momentum=0.9)
    features, labels = separable(16, seed=8)
    data = {"feature": features, "label": labels, "image": None}
    code = detector(data)["feat"].detach()
    first = code[labels == 0].mean(0)
    detector.get_losses(data, detector(data))
    torch.testing.assert_close(detector.center, first)  # initialised with the first batch mean
    other = {"feature": features.flip(0) * 0.5, "label": labels.flip(0), "image": None}
    second = detector(other)["feat"].detach()[other["label"] == 0].mean(0)
    detector.get_losses(other, detector(other))
    torch.testing.assert_close(detector.center, 0.9 * first + 0.1 * second)
    frozen = detector.center.clone()
    detector.eval()
    detector.get_losses(data, detector(data))
    assert torch.equal(detector.center, frozen)
    assert "center" in detector.trainable_state_dict()


@pytest.mark.slow
def test_checkpoint_round_trip_gives_the_same_scores(trained):
    copy = make_detector(seed=99)
    copy.load_trainable_state_dict(trained["detector"].trainable_state_dict())
    features, _ = trained["test"]
    torch.testing.assert_close(evaluate(copy, features[:20])["cls"], trained["after"]["cls"][:20])


# -- options and configuration -----------------------------------------------------------------
@pytest.mark.parametrize(
    "options, key",
    [
        ({"code_dim": 0}, "code_dim"),
        ({"num_tokens": 2.5}, "num_tokens"),
        ({"student_depth": True}, "student_depth"),
        ({"heads": 3}, "heads"),
        ({"margin": 0.0}, "margin"),
        ({"margin": 4.5}, "margin"),
        ({"dropout": 1.0}, "dropout"),
        ({"augment_radius": -0.1}, "augment_radius"),
        ({"grl_lambda": float("nan")}, "grl_lambda"),
        ({"center_momentum": 1.0}, "center_momentum"),
        ({"teacher": "ema"}, "teacher"),
        ({"weights": {"compactnes": 0.1}}, "compactnes"),
        ({"weights": {"fake_hinge": -1}}, "fake_hinge"),
        ({"weights": [1.0]}, "weights"),
    ],
)
def test_bad_options_name_the_key(options, key):
    with pytest.raises(ConfigError, match=key):
        rdaa.RDAADetector(backbone=TINY, **{**SMALL, **options})


def test_misspelt_weight_gets_a_suggestion_and_unknown_option_is_rejected():
    with pytest.raises(ConfigError, match="Did you mean 'compactness'"):
        rdaa.RDAADetector(backbone=TINY, weights={"compactnes": 0.1})
    with pytest.raises(ConfigError, match="marign"):
        build_detector({"name": "rdaa", "backbone": TINY, "marign": 1.0})


def test_build_loss_accepts_only_rdaa():
    detector = make_detector()
    for config in ({"name": "rdaa"}, "rdaa", None, {}):
        detector.build_loss(config, class_counts={"real": 10, "fake": 1})
    with pytest.raises(ConfigError, match=r"not loss 'bce'.*detector\.weights"):
        detector.build_loss({"name": "bce"})
    with pytest.raises(ConfigError, match=r"no options.*margin"):
        detector.build_loss({"name": "rdaa", "margin": 1.0})


def test_shipped_config_loads_and_builds():
    cfg = load_run_config(detector=str(CONFIG))
    assert cfg.detector["name"] == "rdaa" and cfg.loss == {"name": "rdaa"}
    assert cfg.detector["backbone"] == {
        "name": "clip",
        "model": "ViT-L-14",
        "pretrained": "openai",
        "feature": "proj",
        "normalize": False,
    }
    assert cfg.detector["code_dim"] == 150
    assert cfg.optimizer == {"name": "adamw", "lr": 1.0e-4, "weight_decay": 1.0e-4}
    assert cfg.scheduler["name"] == "cosine"
    torch.manual_seed(0)
    detector = build_detector({**cfg.detector, "backbone": TINY})  # every option is accepted
    assert isinstance(detector, rdaa.RDAADetector) and detector.code_dim == 150
    detector.build_loss(cfg.loss)
    features, labels = separable(4, seed=9)
    data = {"feature": features, "label": labels, "image": None}
    assert torch.isfinite(detector.get_losses(data, detector(data))["overall"])
    assert DETECTOR.get("rdaa") is rdaa.RDAADetector
