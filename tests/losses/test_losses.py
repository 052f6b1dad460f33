"""Tests of dfshield.losses: each loss against a hand-written reference, plus bad input."""

from __future__ import annotations

import inspect
import math
import random

import pytest
import torch
import torch.nn.functional as F

import dfshield.losses as losses_pkg
from dfshield.errors import ConfigError
from dfshield.losses import build_loss
from dfshield.losses.cvar import cvar_bisect, cvar_exact
from dfshield.registry import LOSS

COUNTS = {"real": 30, "fake": 90}
PER_SAMPLE = ["bce", "focal", "vs"]
AUC = ["auc_logistic", "auc_sqhinge", "auc_wmw"]


def batch(n: int = 12, seed: int = 0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    logits = (3 * torch.randn(n, generator=generator)).to(dtype).requires_grad_(True)
    labels = torch.arange(n) % 2  # both classes, long
    return logits, labels


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# -- registration and building -------------------------------------------------------------
def test_package_registers_every_loss_and_exports_build_loss():
    assert set(LOSS.names()) >= {
        "bce",
        "focal",
        "vs",
        "cvar",
        "auc_logistic",
        "auc_sqhinge",
        "auc_wmw",
        "composite",
    }
    assert "build_loss" in losses_pkg.__all__
    for name in LOSS.names():
        assert LOSS.describe(name) != "(no description)"


def test_every_class_in_the_package_is_registered():
    registered = {LOSS.get(name) for name in LOSS.names()}
    for module in (
        losses_pkg.bce,
        losses_pkg.focal,
        losses_pkg.vs,
        losses_pkg.cvar,
        losses_pkg.auc,
        losses_pkg.composite,
        losses_pkg._checks,
    ):
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == module.__name__:
                assert obj in registered, obj


def test_build_loss_accepts_a_bare_name_and_forwards_class_counts():
    assert isinstance(build_loss("bce"), LOSS.get("bce"))
    vs = build_loss({"name": "vs"}, class_counts=COUNTS)
    assert vs.weights == pytest.approx({"fake": 120 / 180, "real": 120 / 60})
    # counts in the config win over the build-time context
    vs = build_loss({"name": "vs", "class_counts": {"real": 1, "fake": 1}}, class_counts=COUNTS)
    assert vs.weights == {"fake": 1.0, "real": 1.0}
    # losses that do not take counts ignore the context
    build_loss({"name": "bce"}, class_counts=COUNTS)


@pytest.mark.parametrize("name", PER_SAMPLE)
def test_per_sample_reductions(name):
    loss_none = build_loss({"name": name, "reduction": "none"}, class_counts=COUNTS)
    loss_mean = build_loss({"name": name}, class_counts=COUNTS)
    logits, labels = batch()
    per_sample = loss_none(logits, labels)
    assert per_sample.shape == logits.shape
    torch.testing.assert_close(loss_mean(logits, labels), per_sample.mean())


@pytest.mark.parametrize("name", PER_SAMPLE + AUC + ["cvar", "composite"])
@pytest.mark.parametrize("label_dtype", [torch.long, torch.float32, torch.bool, torch.int32])
def test_labels_may_be_long_float_or_bool(name, label_dtype):
    cfg = {"name": name}
    if name == "composite":
        cfg["terms"] = [{"name": "bce"}]
    loss = build_loss(cfg, class_counts=COUNTS)
    logits, labels = batch()
    expected = loss(logits, labels)
    torch.testing.assert_close(loss(logits, labels.to(label_dtype)), expected)


# -- BCE and focal -----------------------------------------------------------------------------
def test_bce_matches_torch():
    logits, labels = batch()
    expected = F.binary_cross_entropy_with_logits(logits, labels.double())
    torch.testing.assert_close(build_loss({"name": "bce"})(logits, labels), expected)


def test_focal_reduces_to_bce_at_gamma_zero():
    logits, labels = batch()
    focal = build_loss({"name": "focal", "gamma": 0, "reduction": "none"})
    expected = F.binary_cross_entropy_with_logits(logits, labels.double(), reduction="none")
    torch.testing.assert_close(focal(logits, labels), expected)


def test_focal_matches_the_formula():
    logits, labels = batch()
    focal = build_loss({"name": "focal", "gamma": 2.0, "alpha": 0.25, "reduction": "none"})
    values = focal(logits, labels)
    for h, y, value in zip(logits.tolist(), labels.tolist(), values.tolist()):
        p_t = sigmoid(h) if y == 1 else 1 - sigmoid(h)
        alpha_t = 0.25 if y == 1 else 0.75
        assert value == pytest.approx(-alpha_t * (1 - p_t) ** 2 * math.log(p_t), rel=1e-9)


# -- VS --------------------------------------------------------------------------------------
def test_vs_reduces_to_bce():
    logits, labels = batch()
    vs = build_loss(
        {
            "name": "vs",
            "zeta": {"fake": 1, "real": 1},
            "delta": {"fake": 0, "real": 0},
            "weights": "none",
            "reduction": "none",
        }
    )
    expected = F.binary_cross_entropy_with_logits(logits, labels.double(), reduction="none")
    torch.testing.assert_close(vs(logits, labels), expected)
    vs_ones = build_loss(
        {
            "name": "vs",
            "zeta": {"fake": 1, "real": 1},
            "delta": {"fake": 0, "real": 0},
            "weights": {"fake": 1, "real": 1},
        }
    )
    torch.testing.assert_close(vs_ones(logits, labels), expected.mean())


@pytest.mark.parametrize("h", [-3.0, -0.4, 0.0, 0.7, 5.0])
def test_vs_matches_the_paper_formula_for_both_classes(h):
    vs = build_loss({"name": "vs", "reduction": "none"}, class_counts=COUNTS)
    n = COUNTS["real"] + COUNTS["fake"]
    zeta, delta = {"fake": 1.2, "real": 0.8}, {"fake": 0.05, "real": -0.05}
    for cls, label, s in (("fake", 1, 1.0), ("real", 0, -1.0)):
        omega = n / (2 * COUNTS[cls])
        expected = omega * math.log(1 + math.exp(delta[cls]) * math.exp(-zeta[cls] * s * h))
        value = vs(torch.tensor([h], dtype=torch.float64), torch.tensor([label]))
        assert value.item() == pytest.approx(expected, rel=1e-12)


def test_vs_balanced_weights_and_explicit_weights():
    vs = build_loss({"name": "vs"}, class_counts={"real": 10, "fake": 40})
    assert vs.weights["real"] == pytest.approx(50 / (2 * 10))
    assert vs.weights["fake"] == pytest.approx(50 / (2 * 40))
    explicit = build_loss({"name": "vs", "weights": {"fake": 0.3, "real": 2.0}})
    assert explicit.weights == {"fake": 0.3, "real": 2.0}
    assert build_loss({"name": "vs", "weights": "none"}).weights == {"fake": 1.0, "real": 1.0}


def test_vs_is_stable_and_carries_gradient():
    vs = build_loss({"name": "vs"}, class_counts=COUNTS)
    logits = torch.tensor([-500.0, 500.0, -500.0, 500.0, 0.0], requires_grad=True)
    labels = torch.tensor([1, 0, 0, 1, 1])
    value = vs(logits, labels)
    assert torch.isfinite(value)
    value.backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad.abs().sum() > 0
    assert logits.grad[0] < 0 < logits.grad[1]  # push the fake up, the real down
    assert logits.grad[4] != 0  # a logit of exactly 0 gets a gradient too


def test_vs_gradcheck():
    vs = build_loss({"name": "vs", "reduction": "none"}, class_counts=COUNTS)
    logits, labels = batch()
    assert torch.autograd.gradcheck(lambda x: vs(x, labels), (logits,))


# -- CVaR ------------------------------------------------------------------------------------
def brute_force_top(values: list[float], alpha: float) -> float:
    """Mean of the top ⌈αm⌉ losses, the boundary one weighted by the fractional part of αm."""
    ordered = sorted(values, reverse=True)
    k = alpha * len(values)
    whole = math.floor(k)
    total = sum(ordered[:whole])
    if k > whole:
        total += (k - whole) * ordered[whole]
    return total / k


def brute_force_variational(values: list[float], alpha: float) -> float:
    """min over λ ∈ {ℓ_i} of λ + Σ[ℓ_i − λ]_+ / (α·m) (the minimum of this convex piecewise
    linear function lies at a data point)."""
    m = len(values)
    return min(lam + sum(max(v - lam, 0.0) for v in values) / (alpha * m) for lam in values)


def cvar_cases(n_cases: int = 60):
    rng = random.Random(1234)
    for case in range(n_cases):
        m = rng.randint(1, 40)
        alpha = rng.choice([1.0, 0.5, 0.9, 1 / m, rng.uniform(0.01, 1.0)])
        values = torch.tensor([rng.gauss(0, 2) for _ in range(m)], dtype=torch.float64)
        yield case, values, alpha


def test_cvar_exact_equals_the_brute_force_top_mean_and_the_variational_minimum():
    for _, values, alpha in cvar_cases():
        exact = cvar_exact(values, alpha).item()
        assert exact == pytest.approx(brute_force_top(values.tolist(), alpha), abs=1e-10)
        assert exact == pytest.approx(brute_force_variational(values.tolist(), alpha), abs=1e-10)


def test_cvar_bisect_matches_exact_in_value_and_gradient():
    for _, values, alpha in cvar_cases():
        a = values.clone().requires_grad_(True)
        b = values.clone().requires_grad_(True)
        exact, bisect = cvar_exact(a, alpha), cvar_bisect(b, alpha)
        assert abs(exact.item() - bisect.item()) < 1e-6
        exact.backward()
        bisect.backward()
        assert (a.grad - b.grad).abs().max().item() < 1e-6, (alpha, values.numel())


def test_cvar_bisect_matches_exact_in_float32():
    for _, values, alpha in cvar_cases(20):
        values = values.float()
        assert cvar_bisect(values, alpha).item() == pytest.approx(
            cvar_exact(values, alpha).item(), abs=1e-5
        )


def subgradient_check(values: torch.Tensor, grad: torch.Tensor, alpha: float) -> None:
    """``grad`` lies in CVaR_α's subdifferential at ``values``: 1/k on losses above the boundary
    ℓ_(⌊k⌋+1), 0 below it, at most 1/k on the tied ones, summing to one (k = α·m)."""
    k = alpha * values.numel()
    ordered = sorted(values.tolist(), reverse=True)
    boundary = ordered[min(math.floor(k), len(ordered) - 1)]
    for value, weight in zip(values.tolist(), grad.tolist()):
        if value > boundary:
            assert weight == pytest.approx(1 / k)
        elif value < boundary:
            assert weight == 0
        else:
            assert -1e-12 <= weight <= 1 / k + 1e-12
    assert grad.sum().item() == pytest.approx(1.0)


def test_cvar_with_tied_losses():
    for alpha in (0.3, 0.5, 1.0):
        values = torch.tensor([2.0, 1.0, 1.0, 1.0, 0.5, 2.0], dtype=torch.float64)
        expected = brute_force_top(values.tolist(), alpha)
        assert cvar_exact(values, alpha).item() == pytest.approx(expected)
        assert cvar_bisect(values, alpha).item() == pytest.approx(expected)
    # all equal: every sample is tied at the boundary and gets the same share, 1/m
    for alpha, m in ((0.5, 5), (1.0, 5), (0.4, 7), (0.1, 3)):
        constant = torch.full((m,), 3.0, dtype=torch.float64, requires_grad=True)
        value = cvar_bisect(constant, alpha)
        value.backward()
        assert value.item() == pytest.approx(3.0)
        torch.testing.assert_close(constant.grad, torch.full((m,), 1 / m, dtype=torch.float64))
    # k = 0.5·6 = 3: the two 2.0s get 1/3 each, the three tied 1.0s share the last 1/3 equally
    values = torch.tensor([2.0, 1.0, 1.0, 1.0, 0.5, 2.0], dtype=torch.float64, requires_grad=True)
    cvar_bisect(values, 0.5).backward()
    torch.testing.assert_close(
        values.grad, torch.tensor([3, 1, 1, 1, 0, 3], dtype=torch.float64) / 9
    )


def test_cvar_gradients_are_subgradients_with_ties():
    rng = random.Random(7)
    for _ in range(200):
        m = rng.randint(1, 12)
        alpha = rng.choice([1.0, 0.5, 1 / m, rng.uniform(0.01, 1.0)])
        values = torch.tensor([float(rng.randint(0, 3)) for _ in range(m)], dtype=torch.float64)
        for solver in (cvar_exact, cvar_bisect):
            leaf = values.clone().requires_grad_(True)
            value = solver(leaf, alpha)
            value.backward()
            assert value.item() == pytest.approx(brute_force_variational(values.tolist(), alpha))
            subgradient_check(values, leaf.grad, alpha)


def test_cvar_fractional_boundary_by_hand():
    values = torch.tensor([4.0, 1.0, 3.0, 2.0], dtype=torch.float64, requires_grad=True)
    value = cvar_exact(values, 0.6)  # k = 2.4: (4 + 3 + 0.4·2) / 2.4
    assert value.item() == pytest.approx((4 + 3 + 0.4 * 2) / 2.4)
    value.backward()
    torch.testing.assert_close(values.grad, torch.tensor([1, 0, 1, 0.4], dtype=torch.float64) / 2.4)


@pytest.mark.parametrize("solver", ["exact", "bisect"])
def test_cvar_alpha_one_is_the_mean(solver):
    logits, labels = batch(17)
    cvar = build_loss({"name": "cvar", "alpha": 1.0, "solver": solver, "base": {"name": "bce"}})
    torch.testing.assert_close(cvar(logits, labels), build_loss("bce")(logits, labels))


@pytest.mark.parametrize("solver", ["exact", "bisect"])
@pytest.mark.parametrize("alpha", [0.25, 0.23])  # k = 5 and k = 4.6: ⌈k⌉ = 5 kept either way
def test_cvar_gradient_only_on_the_kept_tail(solver, alpha):
    logits, labels = batch(20, seed=3)
    cvar = build_loss(
        {"name": "cvar", "alpha": alpha, "solver": solver, "base": {"name": "vs"}},
        class_counts=COUNTS,
    )
    cvar(logits, labels).backward()
    per_sample = build_loss({"name": "vs", "reduction": "none"}, class_counts=COUNTS)(
        logits, labels
    ).detach()
    kept = torch.topk(per_sample, 5).indices  # ⌈0.25·20⌉ = 5
    mask = torch.zeros(20, dtype=torch.bool)
    mask[kept] = True
    assert (logits.grad[mask] != 0).all()
    assert (logits.grad[~mask] == 0).all()


def test_cvar_forwards_class_counts_and_matches_its_base():
    logits, labels = batch(10)
    cvar = build_loss({"name": "cvar", "alpha": 0.5, "base": {"name": "vs"}}, class_counts=COUNTS)
    base = build_loss({"name": "vs", "reduction": "none"}, class_counts=COUNTS)
    expected = brute_force_top(base(logits, labels).tolist(), 0.5)
    assert cvar(logits, labels).item() == pytest.approx(expected)


# -- AUC surrogates ----------------------------------------------------------------------------
def reference_auc(name: str, logits: list[float], labels: list[int], **options) -> float:
    eta = options.get("eta", 0.6)
    gamma, p_exp = options.get("gamma", 0.15), options.get("p_exp", 2.0)
    terms = []
    for h_f, y_f in zip(logits, labels):
        if y_f != 1:
            continue
        for h_r, y_r in zip(logits, labels):
            if y_r != 0:
                continue
            d = h_f - h_r
            if name == "auc_logistic":
                terms.append(math.log(1 + math.exp(-d)))
            elif name == "auc_sqhinge":
                terms.append((eta - d) ** 2 if d < eta else 0.0)
            else:
                dp = sigmoid(h_f) - sigmoid(h_r)
                terms.append((gamma - dp) ** p_exp if dp < gamma else 0.0)
    return sum(terms) / len(terms)


@pytest.mark.parametrize(
    "name,options",
    [
        ("auc_logistic", {}),
        ("auc_sqhinge", {}),
        ("auc_sqhinge", {"eta": 1.5}),
        ("auc_wmw", {}),
        ("auc_wmw", {"gamma": 0.4, "p_exp": 3}),
    ],
)
def test_auc_equals_double_loop(name, options):
    loss = build_loss({"name": name, **options})
    for seed in range(5):
        generator = torch.Generator().manual_seed(seed)
        n = 5 + seed * 3
        logits = torch.randn(n, generator=generator, dtype=torch.float64)
        labels = (torch.rand(n, generator=generator) < 0.3).long()
        labels[0], labels[1] = 1, 0
        expected = reference_auc(name, logits.tolist(), labels.tolist(), **options)
        assert loss(logits, labels).item() == pytest.approx(expected, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("name", AUC)
@pytest.mark.parametrize("only", [0, 1])
def test_auc_single_class_batch_is_zero_and_backward_works(name, only):
    logits = torch.randn(6, requires_grad=True)
    value = build_loss({"name": name})(logits, torch.full((6,), only))
    assert value.item() == 0.0 and not torch.isnan(value)
    value.backward()
    assert torch.equal(logits.grad, torch.zeros(6))


@pytest.mark.parametrize("name", AUC)
def test_auc_gradcheck(name):
    loss = build_loss({"name": name})
    logits, labels = batch(9, seed=5)
    assert torch.autograd.gradcheck(lambda x: loss(x, labels), (logits,))


def test_auc_losses_push_fakes_above_reals():
    for name in AUC:
        logits = torch.tensor([0.0, 0.0], requires_grad=True)
        build_loss({"name": name})(logits, torch.tensor([1, 0])).backward()
        assert logits.grad[0] < 0 < logits.grad[1], name


def test_wmw_zero_when_fakes_outrank_reals_by_more_than_gamma():
    loss = build_loss({"name": "auc_wmw"})  # γ = 0.15 on probabilities
    logits = torch.tensor([2.0, 3.0, -2.0, -1.0])  # p ≈ .88, .95 vs .12, .27
    labels = torch.tensor([1, 1, 0, 0])
    assert loss(logits, labels).item() == 0.0
    assert loss(logits, 1 - labels).item() > 0  # the reverse ranking is penalised


def test_sqhinge_zero_beyond_margin():
    loss = build_loss({"name": "auc_sqhinge", "eta": 0.6})
    assert loss(torch.tensor([1.0, 0.3]), torch.tensor([1, 0])).item() == 0.0
    assert loss(torch.tensor([1.0, 0.5]), torch.tensor([1, 0])).item() == pytest.approx(0.01)


# -- composite -------------------------------------------------------------------------------
def test_composite_equals_the_weighted_sum_of_its_terms():
    cfg = {
        "name": "composite",
        "terms": [
            {"name": "cvar", "weight": 1.0, "alpha": 0.9, "base": {"name": "vs"}},
            {"name": "auc_logistic", "weight": 0.6},
            {"name": "bce", "weight": 0.25},
            {"name": "bce", "weight": 2},
        ],
    }
    original = {"name": "cvar", "weight": 1.0, "alpha": 0.9, "base": {"name": "vs"}}
    composite = build_loss(cfg, class_counts=COUNTS)
    assert cfg["terms"][0] == original  # the config is not modified
    logits, labels = batch(16)
    total = composite(logits, labels)
    cvar = build_loss({"name": "cvar", "alpha": 0.9, "base": {"name": "vs"}}, class_counts=COUNTS)
    auc = build_loss({"name": "auc_logistic"})
    bce = build_loss({"name": "bce"})
    expected = cvar(logits, labels) + 0.6 * auc(logits, labels) + 2.25 * bce(logits, labels)
    torch.testing.assert_close(total, expected)
    terms = composite.last_terms
    assert list(terms) == ["cvar", "auc_logistic", "bce", "bce#2"]
    assert all(isinstance(v, float) for v in terms.values())
    assert terms["auc_logistic"] == pytest.approx(auc(logits, labels).item())
    total.backward()
    assert logits.grad.abs().sum() > 0


def test_composite_weights_every_term_the_first_included():
    """DDLN's α·BCE + (1 − α)·L_WMW (§4): a first term weighted below 1."""
    composite = build_loss(
        {
            "name": "composite",
            "terms": [{"name": "bce", "weight": 0.3}, {"name": "auc_wmw", "weight": 0.7}],
        }
    )
    logits, labels = batch(16)
    expected = 0.3 * build_loss("bce")(logits, labels) + 0.7 * build_loss("auc_wmw")(logits, labels)
    torch.testing.assert_close(composite(logits, labels), expected)


# -- bad input: build time ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "cfg,words",
    [
        ({"name": "vss"}, ["vss", "Did you mean 'vs'"]),
        ({"name": "cvar", "alpha": "high"}, ["alpha", "(0, 1]"]),
        ({"name": "cvar", "alpha": 0}, ["alpha", "(0, 1]"]),
        ({"name": "cvar", "alpha": 1.5}, ["alpha", "(0, 1]"]),
        ({"name": "cvar", "alpha": True}, ["alpha", "(0, 1]"]),
        ({"name": "cvar", "solver": "newton"}, ["solver", "exact", "bisect"]),
        ({"name": "cvar", "base": "bce"}, ["base"]),
        (
            {"name": "cvar", "base": {"name": "auc_logistic"}},
            ["base", "auc_logistic", "per-sample"],
        ),
        ({"name": "cvar", "base": {"name": "bce", "reduction": "mean"}}, ["base.reduction"]),
        ({"name": "cvar", "base": {"name": "bcee"}}, ["base", "bcee", "Did you mean 'bce'"]),
        ({"name": "cvar", "reduction": "none"}, ["reduction", "Its options"]),
        ({"name": "focal", "gamma": -1}, ["gamma", "[0, inf)"]),
        ({"name": "focal", "gamma": "two"}, ["gamma", "[0, inf)"]),
        ({"name": "focal", "alpha": 1.2}, ["alpha", "[0, 1]"]),
        ({"name": "bce", "reduction": "sum"}, ["reduction", "mean", "none"]),
        ({"name": "auc_sqhinge", "eta": -0.1}, ["eta", "[0, inf)"]),
        ({"name": "auc_wmw", "gamma": -0.15}, ["gamma", "[0, 1]"]),
        ({"name": "auc_wmw", "p_exp": 0.5}, ["p_exp", "[1, inf)"]),
        ({"name": "auc_logistic", "eta": 0.6}, ["eta", "no option"]),
        ({"name": "vs", "weights": "none", "zeta": {"fake": 1.2}}, ["zeta", "missing 'real'"]),
        (
            {"name": "vs", "weights": "none", "delta": {"fake": 0, "real": 0, "unknown": 1}},
            ["delta", "'unknown'"],
        ),
        (
            {"name": "vs", "weights": "none", "zeta": {"fake": -1, "real": 1}},
            ["zeta.fake", "(0, inf)"],
        ),
        ({"name": "vs", "weights": "none", "zeta": 1.0}, ["zeta", "fake", "real"]),
        ({"name": "vs", "weights": {"fake": 1}}, ["weights", "missing 'real'"]),
        ({"name": "vs", "weights": {"fake": -1, "real": 1}}, ["weights.fake", "[0, inf)"]),
        (
            {"name": "vs", "weights": "balancd", "class_counts": COUNTS},
            ["weights", "Did you mean 'balanced'"],
        ),
        ({"name": "vs"}, ["balanced", "class_counts", "build_loss"]),
        ({"name": "vs", "class_counts": {"real": 5}}, ["class_counts"]),
        ({"name": "vs", "class_counts": {"real": 5, "fake": -2}}, ["class_counts.fake"]),
        ({"name": "vs", "class_counts": {"real": 0, "fake": 3}}, ["balanced", "'real'"]),
        ({"name": "composite"}, ["terms"]),
        ({"name": "composite", "terms": [{"weight": 1.0}]}, ["terms[0]", "name"]),
        ({"name": "composite", "terms": [{"name": "bce", "weight": "big"}]}, ["terms[0].weight"]),
        (
            {"name": "composite", "terms": [{"name": "bce", "weight": -1}]},
            ["terms[0].weight", "[0, inf)"],
        ),
        (
            {"name": "composite", "terms": [{"name": "bce"}, {"name": "auc_logistc"}]},
            ["terms[1]", "auc_logistc", "Did you mean 'auc_logistic'"],
        ),
        (
            {"name": "composite", "terms": [{"name": "bce", "reduction": "none"}]},
            ["terms[0].reduction"],
        ),
        (
            {"name": "composite", "terms": [{"name": "cvar", "alpha": 2, "base": {"name": "bce"}}]},
            ["terms[0]", "alpha", "(0, 1]"],
        ),
    ],
)
def test_bad_config_is_a_config_error_naming_the_key(cfg, words):
    with pytest.raises(ConfigError) as info:
        build_loss(cfg)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_numeric_strings_are_accepted():
    # YAML 1.1 reads 1e-3 as a string; such values are numbers, 'high' is not
    assert build_loss({"name": "cvar", "alpha": "1e-1"}).alpha == pytest.approx(0.1)


# -- bad input: call time ----------------------------------------------------------------------
ALL = PER_SAMPLE + AUC + ["cvar", "composite"]


def built(name):
    cfg = {"name": name}
    if name == "composite":
        cfg["terms"] = [{"name": "bce"}, {"name": "auc_logistic"}]
    return build_loss(cfg, class_counts=COUNTS)


@pytest.mark.parametrize("name", ALL)
def test_shape_mismatch_is_a_clear_error(name):
    with pytest.raises(ValueError, match="same shape"):
        built(name)(torch.randn(4, 1), torch.tensor([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="same shape"):
        built(name)(torch.randn(5), torch.tensor([0, 1, 0, 1]))


@pytest.mark.parametrize("name", ALL)
def test_labels_outside_zero_one_are_a_clear_error(name):
    with pytest.raises(ValueError, match="labels must be 0 .real. or 1 .fake."):
        built(name)(torch.randn(4), torch.tensor([0, 1, 2, 1]))
    with pytest.raises(ValueError, match="labels"):
        built(name)(torch.randn(4), torch.tensor([0.0, 1.0, 0.5, 1.0]))


@pytest.mark.parametrize("name", ALL)
def test_nan_logits_are_a_clear_error(name):
    logits = torch.tensor([0.1, float("nan"), 0.3, -0.2])
    with pytest.raises(ValueError, match="NaN"):
        built(name)(logits, torch.tensor([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="infinite"):
        built(name)(torch.tensor([0.1, float("inf"), 0.3, 0.0]), torch.tensor([0, 1, 0, 1]))


def test_empty_batch_and_wrong_types_are_clear_errors():
    with pytest.raises(ValueError, match="empty batch"):
        built("bce")(torch.zeros(0), torch.zeros(0))
    with pytest.raises(TypeError, match="floating-point"):
        built("bce")(torch.tensor([1, 0]), torch.tensor([1, 0]))
    with pytest.raises(TypeError, match="tensors"):
        built("bce")([0.1, 0.2], torch.tensor([1, 0]))


def test_half_precision_logits_work():
    logits, labels = batch(8, dtype=torch.float32)
    for name in ALL:
        value = built(name)(logits.detach().to(torch.bfloat16), labels)
        assert value.dtype == torch.float32 and torch.isfinite(value).all()
