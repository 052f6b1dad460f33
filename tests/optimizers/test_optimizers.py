"""Tests of dfshield.optimizers: torch optimizers from configs, SAM/ASAM, schedulers, bad input."""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import io
import math
import pkgutil

import pytest
import torch
from torch import nn

import dfshield.optimizers
from dfshield.errors import ConfigError, UnknownNameError
from dfshield.optimizers import SAM, build_optimizer, build_scheduler
from dfshield.optimizers.sam import buffers_restored
from dfshield.optimizers.torch_optimizers import implementation
from dfshield.registry import OPTIMIZER, SCHEDULER

ADAMW = {"name": "adamw", "lr": 1e-3, "weight_decay": 6e-5}

# The scheduler tests step schedulers without optimizer steps; torch warns about that call order.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Detected call of `lr_scheduler.step\\(\\)`:UserWarning"
)


# -- helpers ----------------------------------------------------------------------------------
def quadratic(n: int = 5, seed: int = 0):
    """A (SPD), b, θ0 in float64 for f(θ) = ½θᵀAθ − bᵀθ, ∇f(θ) = Aθ − b."""
    g = torch.Generator().manual_seed(seed)
    m = torch.randn(n, n, generator=g, dtype=torch.float64)
    a = m @ m.T + n * torch.eye(n, dtype=torch.float64)
    b = torch.randn(n, generator=g, dtype=torch.float64)
    theta0 = torch.randn(n, generator=g, dtype=torch.float64)
    return a, b, theta0


def quadratic_closure(a, b, parts):
    def closure():
        theta = torch.cat(parts)
        loss = 0.5 * theta @ a @ theta - b @ theta
        loss.backward()
        return loss

    return closure


def bn_model(momentum=0.1, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(4, 6), nn.BatchNorm1d(6, momentum=momentum), nn.ReLU(), nn.Linear(6, 1)
    )


def mse_closure(model, x, y):
    def closure():
        loss = nn.functional.mse_loss(model(x).squeeze(1), y)
        loss.backward()
        return loss

    return closure


def sgd_for_lr(lr=0.1, groups=1):
    params = [nn.Parameter(torch.zeros(2)) for _ in range(groups)]
    return torch.optim.SGD([{"params": [p]} for p in params], lr=lr)


# -- torch optimizers built from configs --------------------------------------------------------
@pytest.mark.parametrize(
    "cfg, reference",
    [
        (
            {"name": "adamw", "lr": 1e-2, "weight_decay": 6e-5, "betas": [0.8, 0.99], "eps": 1e-7},
            lambda p, **kw: torch.optim.AdamW(
                p, lr=1e-2, weight_decay=6e-5, betas=(0.8, 0.99), eps=1e-7, **kw
            ),
        ),
        ({"name": "adamw"}, lambda p, **kw: torch.optim.AdamW(p, **kw)),
        (
            {"name": "adam", "lr": 1e-2, "weight_decay": 1e-3, "amsgrad": True},
            lambda p, **kw: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-3, amsgrad=True, **kw),
        ),
        (
            {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4},
            lambda p, **kw: torch.optim.SGD(
                p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4, **kw
            ),
        ),
        (
            {"name": "sgd", "lr": 0.05, "momentum": 0.5, "dampening": 0.1},
            lambda p, **kw: torch.optim.SGD(p, lr=0.05, momentum=0.5, dampening=0.1, **kw),
        ),
    ],
)
def test_builtin_optimizers_match_torch(cfg, reference):
    """Ours is torch's optimizer in its fused form (picked for parameters on the CPU): equal to
    it bit for bit, and to torch's default form within rounding."""
    torch.manual_seed(1)
    x, y = torch.randn(32, 4), torch.randn(32)
    ours_model = nn.Linear(4, 1)
    theirs_model = copy.deepcopy(ours_model)
    default_model = copy.deepcopy(ours_model)
    ours = build_optimizer(cfg, ours_model)
    theirs = reference(theirs_model.parameters(), fused=True)
    default = reference(default_model.parameters())
    assert type(ours) is type(theirs) and ours.param_groups[0]["fused"] is True
    for _ in range(5):
        for model, opt in ((ours_model, ours), (theirs_model, theirs), (default_model, default)):
            opt.zero_grad()
            nn.functional.mse_loss(model(x).squeeze(1), y).backward()
            opt.step()
    for p, q, r in zip(
        ours_model.parameters(), theirs_model.parameters(), default_model.parameters()
    ):
        assert torch.equal(p, q)
        torch.testing.assert_close(p, r, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "reference, bound",
    [
        (lambda p, **kw: torch.optim.AdamW(p, lr=1e-3, weight_decay=1e-2, **kw), 4e-7),
        (lambda p, **kw: torch.optim.Adam(p, lr=1e-3, **kw), 4e-7),
        (lambda p, **kw: torch.optim.SGD(p, lr=1e-2, momentum=0.9, **kw), 0.0),
    ],
)
def test_the_fused_update_is_within_the_stated_rounding_of_the_for_loop_form(reference, bound):
    """The tolerance ``implementation``'s docstring states: 50 float32 steps on weights of order
    1 with the same gradients, fused against torch's for-loop form."""
    weights = [torch.randn(256, 256, generator=torch.Generator().manual_seed(0)), torch.zeros(256)]
    fused = [w.clone().requires_grad_(True) for w in weights]
    loop = [w.clone().requires_grad_(True) for w in weights]
    optimizers = (reference(fused, fused=True), reference(loop, foreach=False))
    generator = torch.Generator().manual_seed(1)
    for _ in range(50):
        for a, b in zip(fused, loop):
            a.grad = torch.randn(a.shape, generator=generator)
            b.grad = a.grad.clone()
        for optimizer in optimizers:
            optimizer.step()
    assert max((a - b).abs().max().item() for a, b in zip(fused, loop)) <= bound


def test_fused_only_where_torch_has_fused_kernels():
    assert implementation([nn.Parameter(torch.zeros(2))])[1] == {"fused": True}
    assert implementation([nn.Parameter(torch.zeros(2, dtype=torch.float64))])[1] == {"fused": True}
    assert implementation([torch.zeros(2, dtype=torch.long)])[1] == {}  # torch's own error
    assert implementation([torch.zeros(2, device="meta")])[1] == {}
    generator = (p for p in [nn.Parameter(torch.zeros(2))])  # read once, still all there
    params, _ = implementation([{"params": generator, "lr": 0.1}])
    assert len(params[0]["params"]) == 1 and params[0]["lr"] == 0.1


def test_module_params_skip_frozen_and_param_groups_work():
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 1))
    model[0].requires_grad_(False)
    opt = build_optimizer({"name": "sgd", "lr": 0.1}, model)
    assert {id(p) for p in opt.param_groups[0]["params"]} == {id(p) for p in model[1].parameters()}

    groups = [
        {"params": [nn.Parameter(torch.zeros(3))], "lr": 0.5},
        {"params": [nn.Parameter(torch.zeros(2))]},
    ]
    opt = build_optimizer({"name": "adam", "lr": 0.01}, groups)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.01]


def test_numeric_string_from_yaml_is_accepted():
    # yaml.safe_load reads "lr: 1e-5" as the string "1e-5"
    opt = build_optimizer({"name": "adamw", "lr": "1e-5"}, [nn.Parameter(torch.zeros(1))])
    assert opt.param_groups[0]["lr"] == 1e-5


# -- SAM: the algorithm ------------------------------------------------------------------------
@pytest.mark.parametrize("split", [False, True])
def test_sam_step_on_quadratic_matches_hand_computation(split):
    a, b, theta0 = quadratic()
    lr, rho = 0.05, 0.1
    parts = (
        [nn.Parameter(theta0[:2].clone()), nn.Parameter(theta0[2:].clone())]
        if split
        else [nn.Parameter(theta0.clone())]
    )
    params = [{"params": [p]} for p in parts] if split else parts
    opt = build_optimizer({"name": "sam", "rho": rho, "base": {"name": "sgd", "lr": lr}}, params)
    assert isinstance(opt, SAM) and isinstance(opt.base_optimizer, torch.optim.SGD)
    loss = opt.step(quadratic_closure(a, b, parts))

    g = a @ theta0 - b
    e = rho * g / g.norm()
    expected = theta0 - lr * (a @ (theta0 + e) - b)
    assert torch.allclose(torch.cat([p.detach() for p in parts]), expected, rtol=0, atol=1e-12)
    # the returned loss is the first one, at θ (not at θ + ε)
    assert loss.item() == pytest.approx((0.5 * theta0 @ a @ theta0 - b @ theta0).item(), abs=1e-12)
    # the gradient left in .grad (the one the base optimizer used) is the one at θ + ε
    assert torch.allclose(torch.cat([p.grad for p in parts]), a @ (theta0 + e) - b, atol=1e-12)


@pytest.mark.parametrize("eta", [0.0, 0.01])
def test_asam_step_on_quadratic_matches_hand_computation(eta):
    a, b, theta0 = quadratic(seed=3)
    lr, rho = 0.05, 0.5
    theta = nn.Parameter(theta0.clone())
    opt = build_optimizer(
        {
            "name": "sam",
            "rho": rho,
            "adaptive": True,
            "eta": eta,
            "base": {"name": "sgd", "lr": lr},
        },
        [theta],
    )
    opt.step(quadratic_closure(a, b, [theta]))

    g = a @ theta0 - b
    t = theta0.abs() + eta
    e = rho * t**2 * g / (t * g).norm()
    expected = theta0 - lr * (a @ (theta0 + e) - b)
    assert torch.allclose(theta.detach(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("adaptive", [False, True])
def test_zero_gradient_means_no_perturbation_and_no_nan(adaptive):
    centre = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    theta = nn.Parameter(centre.clone())  # f = ‖θ − c‖², ∇f = 2(θ − c) = 0 exactly here

    def at_minimum():
        loss = ((theta - centre) ** 2).sum()
        loss.backward()
        return loss

    opt = build_optimizer(
        {"name": "sam", "rho": 0.1, "adaptive": adaptive, "base": {"name": "sgd", "lr": 0.1}},
        [theta],
    )
    opt.step(at_minimum)
    assert torch.isfinite(theta).all()
    assert torch.equal(theta.detach(), centre)

    # a parameter at exactly 0 under ASAM (T = |θ| = 0): no perturbation, plain base step
    zero = nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = build_optimizer(
        {"name": "sam", "adaptive": True, "base": {"name": "sgd", "lr": 0.1}}, [zero]
    )

    def closure():
        loss = ((zero - 1.0) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert torch.allclose(zero.detach(), torch.full((3,), 0.2, dtype=torch.float64))


def test_sam_with_rho_zero_is_the_base_optimizer():
    torch.manual_seed(0)
    x, y = torch.randn(16, 4), torch.randn(16)
    ours_model = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 1))
    theirs_model = copy.deepcopy(ours_model)
    ours = build_optimizer({"name": "sam", "rho": 0.0, "base": ADAMW}, ours_model)
    theirs = torch.optim.AdamW(theirs_model.parameters(), lr=1e-3, weight_decay=6e-5)
    for _ in range(4):
        ours.step(mse_closure(ours_model, x, y))
        theirs.zero_grad()
        mse_closure(theirs_model, x, y)()
        theirs.step()
    for p, q in zip(ours_model.parameters(), theirs_model.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("pass_module", [True, False])
def test_batchnorm_running_stats_updated_once_per_step(momentum, pass_module):
    model = bn_model(momentum)
    reference = copy.deepcopy(model)
    torch.manual_seed(5)
    x, y = torch.randn(8, 4), torch.randn(8)
    calls = []
    model.register_forward_pre_hook(lambda *args: calls.append(1))

    params = model if pass_module else list(model.parameters())
    opt = build_optimizer({"name": "sam", "rho": 0.5, "base": {"name": "sgd", "lr": 0.1}}, params)
    assert (opt.module is model) == pass_module
    opt.step(mse_closure(model, x, y))
    assert len(calls) == 2  # the model did run twice

    reference.train()
    with torch.no_grad():
        reference(x)  # exactly one forward of the first closure's batch, at θ
    bn, ref_bn = model[1], reference[1]
    assert int(bn.num_batches_tracked) == 1
    assert torch.equal(bn.running_mean, ref_bn.running_mean)
    assert torch.equal(bn.running_var, ref_bn.running_var)
    assert not torch.equal(bn.running_mean, torch.zeros(6))  # the stats did move once

    # a second step: still one update per step
    opt.step(mse_closure(model, x, y))
    assert int(bn.num_batches_tracked) == 2


def deepfakebench_train_step(model, optimizer, x, y, second_forward=contextlib.nullcontext):
    """DeepfakeBench's Trainer.train_step for SAM: two forwards, first_step then second_step."""
    for i in range(2):
        with second_forward() if i == 1 else contextlib.nullcontext():  # forward and backward
            loss = nn.functional.mse_loss(model(x).squeeze(1), y)
            optimizer.zero_grad()
            loss.backward()
        if i == 0:
            optimizer.first_step(zero_grad=True)
        else:
            optimizer.second_step(zero_grad=True)


def assert_same_state(a, b):
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name
    for (name, p), q in zip(a.named_buffers(), b.buffers()):
        assert torch.equal(p, q), name


@pytest.mark.parametrize("adaptive", [False, True])
def test_two_step_api_equals_the_closure_path(adaptive):
    cfg = {"name": "sam", "rho": 0.2, "adaptive": adaptive, "eta": 0.01, "base": ADAMW}
    closure_model = bn_model()
    two_step_model = copy.deepcopy(closure_model)
    closure_opt = build_optimizer(cfg, closure_model)
    two_step_opt = build_optimizer(cfg, two_step_model)
    generator = torch.Generator().manual_seed(3)
    steps = 4
    for _ in range(steps):
        x, y = torch.randn(8, 4, generator=generator), torch.randn(8, generator=generator)
        closure_opt.step(mse_closure(closure_model, x, y))
        deepfakebench_train_step(two_step_model, two_step_opt, x, y)
    assert_same_state(closure_model, two_step_model)
    assert int(two_step_model[1].num_batches_tracked) == steps  # BatchNorm: once per step
    assert not torch.equal(two_step_model[0].weight, bn_model()[0].weight)  # it did train


def test_two_step_api_without_the_model_needs_buffers_restored():
    cfg = {"name": "sam", "rho": 0.2, "base": {"name": "sgd", "lr": 0.1}}
    reference = bn_model()
    bare, guarded = copy.deepcopy(reference), copy.deepcopy(reference)
    reference_opt = build_optimizer(cfg, reference)
    bare_opt = build_optimizer(cfg, list(bare.parameters()))  # SAM does not know the model
    guarded_opt = build_optimizer(cfg, list(guarded.parameters()))
    generator = torch.Generator().manual_seed(4)
    for _ in range(3):
        x, y = torch.randn(8, 4, generator=generator), torch.randn(8, generator=generator)
        reference_opt.step(mse_closure(reference, x, y))
        deepfakebench_train_step(bare, bare_opt, x, y)
        deepfakebench_train_step(guarded, guarded_opt, x, y, second_forward=buffers_restored)
    assert int(bare[1].num_batches_tracked) == 6  # both forwards updated the running stats
    assert_same_state(reference, guarded)


def test_two_step_api_misuse_is_a_clear_error():
    model = bn_model()
    opt = build_optimizer({"name": "sam", "base": ADAMW}, model)
    with pytest.raises(RuntimeError, match="needs a first_step"):
        opt.second_step()
    mse_closure(model, torch.randn(4, 4), torch.randn(4))()
    before = [p.detach().clone() for p in model.parameters()]
    opt.first_step()
    with pytest.raises(RuntimeError, match="between first_step.*second_step"):
        opt.first_step()
    with pytest.raises(RuntimeError, match="Call second_step"):
        opt.step(mse_closure(model, torch.randn(4, 4), torch.randn(4)))
    opt.zero_grad()
    opt.second_step()  # no gradient at θ + ε: θ is restored and the base optimizer does nothing
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_parameters_restored_when_second_closure_fails():
    theta = nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = build_optimizer({"name": "sam", "rho": 0.3, "base": {"name": "sgd", "lr": 0.1}}, [theta])
    calls = []

    def closure():
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        loss = (theta**2).sum()
        loss.backward()
        return loss

    with pytest.raises(RuntimeError, match="boom"):
        opt.step(closure)
    assert torch.equal(theta.detach(), torch.tensor([1.0, -2.0]))


def test_step_without_closure_explains_how_to_write_one():
    opt = build_optimizer({"name": "sam", "base": ADAMW}, [nn.Parameter(torch.zeros(2))])
    with pytest.raises(TypeError) as info:
        opt.step()
    message = str(info.value)
    assert "closure" in message and "backward()" in message and "def closure" in message


def test_zero_grad_and_shared_groups():
    model = nn.Linear(3, 1)
    opt = build_optimizer({"name": "sam", "base": ADAMW}, model)
    opt.step(mse_closure(model, torch.randn(4, 3), torch.randn(4)))
    assert all(p.grad is not None for p in model.parameters())
    opt.zero_grad(set_to_none=True)
    assert all(p.grad is None for p in model.parameters())

    assert opt.param_groups is opt.base_optimizer.param_groups
    assert opt.state is opt.base_optimizer.state
    extra = nn.Parameter(torch.zeros(2))
    opt.add_param_group({"params": [extra], "rho": 0.2})
    assert opt.base_optimizer.param_groups[-1]["params"] == [extra]
    assert opt.param_groups[-1]["rho"] == 0.2 and opt.param_groups[-1]["adaptive"] is False


# -- SAM: state dict -------------------------------------------------------------------------
@pytest.mark.parametrize("adaptive", [False, True])
def test_sam_state_dict_round_trip_resumes_identically(adaptive):
    torch.manual_seed(0)
    batches = [(torch.randn(8, 4), torch.randn(8)) for _ in range(7)]
    cfg = {"name": "sam", "rho": 0.1, "adaptive": adaptive, "base": ADAMW}
    model_a = bn_model()
    opt_a = build_optimizer(cfg, model_a)
    sched_a = build_scheduler({"name": "cosine", "min_lr": 1e-5}, opt_a, epochs=7)
    for x, y in batches[:3]:
        opt_a.step(mse_closure(model_a, x, y))
        sched_a.step()

    # checkpoint as a trainer would write it, loaded with weights_only=True
    buffer = io.BytesIO()
    torch.save(
        {
            "model": model_a.state_dict(),
            "optimizer": opt_a.state_dict(),
            "scheduler": sched_a.state_dict(),
        },
        buffer,
    )
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    assert checkpoint["optimizer"]["state"]  # AdamW's moments are in there
    assert checkpoint["optimizer"]["param_groups"][0]["rho"] == 0.1

    model_b = bn_model(seed=123)  # different initial weights: everything must come from the file
    opt_b = build_optimizer(cfg, model_b)
    sched_b = build_scheduler({"name": "cosine", "min_lr": 1e-5}, opt_b, epochs=7)
    model_b.load_state_dict(checkpoint["model"])
    opt_b.load_state_dict(checkpoint["optimizer"])
    sched_b.load_state_dict(checkpoint["scheduler"])
    assert opt_b.param_groups is opt_b.base_optimizer.param_groups

    for x, y in batches[3:]:
        for model, opt, sched in ((model_a, opt_a, sched_a), (model_b, opt_b, sched_b)):
            opt.step(mse_closure(model, x, y))
            sched.step()
    for p, q in zip(model_a.state_dict().values(), model_b.state_dict().values()):
        assert torch.equal(p, q)
    assert opt_b.base_optimizer.param_groups[0]["lr"] == opt_a.base_optimizer.param_groups[0]["lr"]


# -- schedulers ----------------------------------------------------------------------------------
def cosine_by_hand(base, min_lr, t, total):
    return min_lr + 0.5 * (base - min_lr) * (1 + math.cos(math.pi * t / total))


def test_cosine_per_epoch_by_hand_monotone_and_final_min_lr():
    base, min_lr, epochs = 0.1, 1e-3, 10
    opt = sgd_for_lr(base)
    sched = build_scheduler(
        {"name": "cosine", "min_lr": min_lr}, opt, epochs=epochs, steps_per_epoch=50
    )
    assert sched.interval == "epoch"
    lrs = []
    for epoch in range(epochs):
        lr = sched.get_last_lr()[0]
        assert lr == opt.param_groups[0]["lr"]
        assert lr == pytest.approx(cosine_by_hand(base, min_lr, epoch, epochs), abs=1e-15)
        lrs.append(lr)
        sched.step()
    assert lrs[0] == base  # the first epoch runs at the base learning rate
    assert sched.get_last_lr()[0] == pytest.approx(min_lr, abs=1e-15)
    for _ in range(5):  # stepping past the end never brings the rate back up
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    assert all(later <= earlier for earlier, later in zip(lrs, lrs[1:]))
    assert lrs[-1] == pytest.approx(min_lr, abs=1e-15)
    # the authors' T_max = epochs/4 would go back up; ours agrees with torch's T_max = epochs
    opt_t = sgd_for_lr(base)
    torch_sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt_t, T_max=epochs, eta_min=min_lr)
    for epoch in range(epochs):
        assert torch_sched.get_last_lr()[0] == pytest.approx(lrs[epoch], abs=1e-12)
        torch_sched.step()


def test_cosine_per_step_by_hand():
    base, epochs, steps = 0.2, 3, 4
    opt = sgd_for_lr(base, groups=2)
    sched = build_scheduler(
        {"name": "cosine", "interval": "step"}, opt, epochs=epochs, steps_per_epoch=steps
    )
    assert sched.interval == "step"
    total = epochs * steps
    previous = math.inf
    for t in range(total):
        lrs = sched.get_last_lr()
        assert len(lrs) == 2
        assert lrs[0] == pytest.approx(cosine_by_hand(base, 0.0, t, total), abs=1e-15)
        assert lrs[0] <= previous
        previous = lrs[0]
        sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(0.0, abs=1e-15)


def test_cosine_warmup_by_hand():
    base, epochs, warmup = 1.0, 10, 3
    opt = sgd_for_lr(base)
    sched = build_scheduler({"name": "cosine", "warmup": warmup}, opt, epochs=epochs)
    seen = []
    for _ in range(epochs + 1):
        seen.append(sched.get_last_lr()[0])
        sched.step()
    assert seen[:warmup] == pytest.approx([0.25, 0.5, 0.75])
    for t in range(warmup, epochs + 1):
        progress = (t - warmup) / (epochs - warmup)
        assert seen[t] == pytest.approx(0.5 * (1 + math.cos(math.pi * progress)))
    after = seen[warmup:]
    assert all(b <= a for a, b in zip(after, after[1:]))


def test_step_scheduler_by_hand():
    opt = sgd_for_lr(0.8)
    sched = build_scheduler({"name": "step", "step_size": 3, "gamma": 0.5}, opt, epochs=10)
    for t in range(10):
        assert sched.get_last_lr()[0] == pytest.approx(0.8 * 0.5 ** (t // 3))
        sched.step()


def test_none_scheduler_is_constant():
    opt = sgd_for_lr(0.3)
    for cfg in ({"name": "none"}, None, {"name": "none", "interval": "step"}):
        sched = build_scheduler(cfg, opt, epochs=5, steps_per_epoch=2)
        for _ in range(7):
            sched.step()
        assert sched.get_last_lr() == [0.3] and opt.param_groups[0]["lr"] == 0.3


def test_scheduler_state_dict_resume():
    opt_a = sgd_for_lr(0.1)
    sched_a = build_scheduler(
        {"name": "cosine", "interval": "step"}, opt_a, epochs=2, steps_per_epoch=5
    )
    for _ in range(4):
        sched_a.step()
    opt_b = sgd_for_lr(0.1)
    sched_b = build_scheduler(
        {"name": "cosine", "interval": "step"}, opt_b, epochs=2, steps_per_epoch=5
    )
    opt_b.load_state_dict(opt_a.state_dict())
    sched_b.load_state_dict(sched_a.state_dict())
    for _ in range(8):
        sched_a.step()
        sched_b.step()
        assert sched_a.get_last_lr() == sched_b.get_last_lr()
        assert opt_b.param_groups[0]["lr"] == opt_a.param_groups[0]["lr"]


def test_scheduler_on_sam_changes_base_lr():
    model = nn.Linear(3, 1)
    opt = build_optimizer({"name": "sam", "rho": 0.1, "base": {"name": "adamw", "lr": 0.01}}, model)
    sched = build_scheduler({"name": "cosine"}, opt, epochs=4)
    x, y = torch.randn(4, 3), torch.randn(4)
    for epoch in range(1, 5):
        opt.step(mse_closure(model, x, y))
        sched.step()
        expected = cosine_by_hand(0.01, 0.0, epoch, 4)
        assert opt.base_optimizer.param_groups[0]["lr"] == pytest.approx(expected, abs=1e-15)
    # still linked after loading a state dict (load_state_dict replaces the group dicts)
    opt.load_state_dict(opt.state_dict())
    sched.load_state_dict(sched.state_dict())
    opt.base_optimizer.param_groups[0]["lr"] = 0.5
    assert opt.param_groups[0]["lr"] == 0.5


# -- registration --------------------------------------------------------------------------------
def test_every_class_in_the_package_is_registered():
    registered = {OPTIMIZER.get(n) for n in OPTIMIZER.names()} | {
        SCHEDULER.get(n) for n in SCHEDULER.names()
    }
    package = dfshield.optimizers
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == module.__name__:
                assert obj in registered, f"{obj.__qualname__} is not registered"
    assert {"adamw", "adam", "sgd", "sam"} <= set(OPTIMIZER.names())
    assert {"cosine", "step", "none"} <= set(SCHEDULER.names())
    for name in OPTIMIZER.names():
        assert OPTIMIZER.describe(name) != "(no description)"
    assert "Foret et al., ICLR 2021" in OPTIMIZER.describe("sam")


# -- bad input -----------------------------------------------------------------------------------
P = [nn.Parameter(torch.zeros(2))]


@pytest.mark.parametrize(
    "cfg, words",
    [
        ({"name": "adamx"}, ["unknown optimizer 'adamx'", "Did you mean 'adam"]),
        ({"lr": 0.1}, ["'name'"]),
        ({"name": "adamw", "lrr": 0.1}, ["'lrr'", "Did you mean 'lr'"]),
        ({"name": "adamw", "lr": "fast"}, ["'lr'", "a number >= 0", "'fast'"]),
        ({"name": "adamw", "lr": -1e-3}, ["'lr'", ">= 0"]),
        ({"name": "adamw", "lr": None}, ["'lr'", ">= 0"]),
        ({"name": "adamw", "lr": True}, ["'lr'"]),
        ({"name": "adamw", "weight_decay": -0.1}, ["'weight_decay'", ">= 0"]),
        ({"name": "adamw", "betas": [0.9]}, ["'betas'", "two numbers"]),
        ({"name": "adam", "betas": [0.9, 1.0]}, ["'betas[1]'", "[0, 1)"]),
        ({"name": "adam", "amsgrad": "yes"}, ["'amsgrad'", "true or false"]),
        ({"name": "sgd", "momentum": -0.9}, ["'momentum'", ">= 0"]),
        ({"name": "sgd", "nesterov": True}, ["'nesterov: true'", "'momentum' > 0"]),
        ({"name": "sgd", "params": []}, ["'params'", "cannot be set"]),
        ({"name": "sam", "module": None, "base": ADAMW}, ["'module'", "cannot be set"]),
        ({"name": "sam", "rho": -0.1, "base": ADAMW}, ["'rho'", ">= 0"]),
        ({"name": "sam", "rho": "wide", "base": ADAMW}, ["'rho'", ">= 0"]),
        ({"name": "sam", "adaptive": "no", "base": ADAMW}, ["'adaptive'", "true or false"]),
        ({"name": "sam", "eta": -1, "base": ADAMW}, ["'eta'", ">= 0"]),
        ({"name": "sam", "rho": 0.1}, ["'base'", "adamw", "name: adamw"]),
        ({"name": "sam", "base": {"name": "sam", "base": ADAMW}}, ["SAM cannot wrap SAM"]),
        ({"name": "sam", "base": {"lr": 0.1}}, ["'base'", "'name'"]),
        ({"name": "sam", "base": {"name": "adamw", "lr": -1}}, ["key 'base'", "'lr'", ">= 0"]),
        ({"name": "sam", "base": {"name": "adamw", "rho": 0.1}}, ["key 'base'", "'rho'"]),
        ({"name": "sam", "base": {"name": "adamv"}}, ["key 'base'", "Did you mean 'adam"]),
        ({"name": "sam", "base": "adamw", "radius": 1}, ["'radius'"]),
        (["adamw"], ["mapping"]),
    ],
)
def test_bad_optimizer_config_names_the_key(cfg, words):
    with pytest.raises(ConfigError) as info:
        build_optimizer(cfg, P)
    for word in words:
        assert word in str(info.value)


def test_bad_params():
    with pytest.raises(ConfigError, match="empty parameter list"):
        build_optimizer(ADAMW, [])
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ConfigError, match="no trainable parameters"):
        build_optimizer(ADAMW, frozen)
    with pytest.raises(UnknownNameError):
        build_optimizer({"name": "lion"}, P)


@pytest.mark.parametrize(
    "cfg, kwargs, words",
    [
        ({"name": "cosin"}, {}, ["unknown scheduler 'cosin'", "Did you mean 'cosine'"]),
        ({"name": "cosine", "interval": "epochs"}, {}, ["'interval'", "Did you mean 'epoch'"]),
        ({"name": "cosine", "min_lr": -1}, {}, ["'min_lr'", ">= 0"]),
        ({"name": "cosine", "min_lr": 1.0}, {}, ["'min_lr'", "<= every param group"]),
        ({"name": "cosine", "warmup": 10}, {}, ["'warmup'", "smaller than"]),
        ({"name": "cosine", "warmup": 1.5}, {}, ["'warmup'", "integer"]),
        ({"name": "cosine", "interval": "step"}, {"steps_per_epoch": None}, ["steps_per_epoch"]),
        (
            {"name": "cosine", "interval": "step"},
            {"steps_per_epoch": 0},
            ["'steps_per_epoch'", ">= 1"],
        ),
        ({"name": "cosine"}, {"epochs": 0}, ["'epochs'", ">= 1"]),
        ({"name": "cosine", "epochs": 5}, {}, ["'epochs'", "cannot be set"]),
        ({"name": "cosine", "T_max": 5}, {}, ["'T_max'", "Its options"]),
        ({"name": "step"}, {}, ["'step_size'", ">= 1"]),
        ({"name": "step", "step_size": 0}, {}, ["'step_size'", ">= 1"]),
        ({"name": "step", "step_size": 2, "gamma": 0}, {}, ["'gamma'", "> 0"]),
        ({"name": "none", "interval": "iteration"}, {}, ["'interval'", "'epoch', 'step'"]),
    ],
)
def test_bad_scheduler_config_names_the_key(cfg, kwargs, words):
    opt = sgd_for_lr(0.1)
    arguments = {"epochs": 10, "steps_per_epoch": 5, **kwargs}
    with pytest.raises(ConfigError) as info:
        build_scheduler(cfg, opt, **arguments)
    for word in words:
        assert word in str(info.value)
