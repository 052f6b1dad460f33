"""A training step without host round-trips (dfshield.engine.steps): no host read of a device
value inside a step, the same weights as the step written before it, and the CUDA-graph capture
(skipped without CUDA)."""

from __future__ import annotations

import contextlib
import copy
import itertools
import logging
import math

import pytest
import torch
import torch.nn.functional as F

import dfshield.detectors.rdaa as rdaa
from dfshield.config import load_run_config
from dfshield.detectors import build_detector
from dfshield.engine.checkpoint import load_checkpoint
from dfshield.engine.steps import EpochLosses, TrainStep, capture_mode
from dfshield.engine.trainer import Trainer, TrainingError
from dfshield.errors import ConfigError
from dfshield.losses import build_loss, deferred_value_checks
from dfshield.losses.cvar import cvar_exact
from dfshield.optimizers import build_optimizer, build_scheduler
from tests.helpers import CAPTURE_FAILURE, TINY_BACKBONE, force_capture_failure, toy_layer

SMALL_RDAA = {"code_dim": 16, "ae_hidden": 32, "num_tokens": 2, "token_dim": 8, "heads": 2}
HOST_READS = ("item", "tolist", "cpu", "numpy", "nonzero", "__bool__", "__float__", "__int__")


@contextlib.contextmanager
def count_host_reads():
    """Count every way a tensor's value reaches the host: ``item``, ``tolist``, ``cpu``,
    ``numpy``, ``nonzero`` (method and function), ``bool``/``float``/``int`` of a tensor and
    boolean-mask indexing."""
    calls: list[str] = []
    saved = {name: getattr(torch.Tensor, name) for name in (*HOST_READS, "__getitem__")}
    saved_nonzero = torch.nonzero

    def counting(name):
        original = saved[name]

        def wrapper(self, *args, **kwargs):
            calls.append(name)
            return original(self, *args, **kwargs)

        return wrapper

    def getitem(self, index):
        parts = index if isinstance(index, tuple) else (index,)
        if any(torch.is_tensor(p) and p.dtype == torch.bool for p in parts):
            calls.append("boolean mask")
        return saved["__getitem__"](self, index)

    def nonzero(*args, **kwargs):
        calls.append("torch.nonzero")
        return saved_nonzero(*args, **kwargs)

    for name in HOST_READS:
        setattr(torch.Tensor, name, counting(name))
    torch.Tensor.__getitem__ = getitem
    torch.nonzero = nonzero
    try:
        yield calls
    finally:
        for name, original in saved.items():
            setattr(torch.Tensor, name, original)
        torch.nonzero = saved_nonzero


def test_the_counter_sees_every_kind_of_host_read():
    x = torch.tensor([1.0, -2.0, 3.0])
    with count_host_reads() as calls:
        x.sum().item()
        float(x[0])
        bool(x[0] > 0)
        x[x > 0]
        x.tolist()
        torch.nonzero(x)
    assert calls == ["item", "__float__", "__bool__", "boolean mask", "tolist", "torch.nonzero"]


# -- a bank step of the MLP heads --------------------------------------------------------------


def head(name: str, dtype=torch.float32, **options):
    """``name``'s shipped detector, loss and optimizer on the 64-d tiny backbone, made small."""
    cfg = load_run_config(detector=name)
    torch.manual_seed(0)
    options = {**(SMALL_RDAA if name == "rdaa" else {"hidden": 32}), **options}
    detector = build_detector({**cfg.detector, "backbone": dict(TINY_BACKBONE), **options}).to(
        dtype
    )
    detector.build_loss(cfg.loss, class_counts={"real": 96, "fake": 24})
    return cfg, detector


def bank(n: int = 120, dim: int = 64, dtype=torch.float32, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n, dim, generator=generator, dtype=dtype)
    labels = (torch.arange(n) % 5 == 0).long()  # real:fake 4:1
    return features, labels


@pytest.mark.parametrize("name", ["spcup", "robust_clip", "rdaa"])
def test_a_bank_step_reads_nothing_on_the_host(name, monkeypatch):
    """rdaa on the CPU picks its fake rows with a boolean mask (free on the host); its
    accelerator path, which weights every row instead, is the one counted here."""
    if name == "rdaa":
        monkeypatch.setattr(rdaa, "selects_on_host", lambda tensor: False)
    cfg, detector = head(name)
    optimizer = build_optimizer(cfg.optimizer, detector)
    step = TrainStep(detector, detector, optimizer, amp_dtype=None)
    features, labels = bank()
    data = {"feature": features[:32], "label": labels[:32], "image": None}
    detector.train()
    step(data)  # the optimizer's state is created on the first step
    with count_host_reads() as calls:
        loss = step(data)
    assert calls == [], calls
    assert loss.dim() == 0 and not loss.requires_grad


def test_losses_read_nothing_on_the_host_while_checks_are_deferred():
    logits = torch.randn(16, requires_grad=True)
    labels = torch.arange(16) % 3 == 0
    configs = [
        "bce",
        "focal",
        {"name": "vs"},
        {"name": "cvar", "base": {"name": "vs"}},
        {"name": "cvar", "solver": "bisect", "base": {"name": "focal"}},
        "auc_logistic",
        "auc_sqhinge",
        "auc_wmw",
        {"name": "composite", "terms": [{"name": "bce"}, {"name": "auc_logistic"}]},
    ]
    for cfg in configs:
        loss = build_loss(cfg, class_counts={"real": 10, "fake": 6})
        checked = loss(logits, labels)
        with count_host_reads() as calls, deferred_value_checks():
            deferred = loss(logits, labels)
            deferred.backward()
        assert calls == [], cfg
        torch.testing.assert_close(deferred, checked, rtol=0, atol=0)
    with count_host_reads() as calls:
        build_loss("bce")(logits, labels)
    assert calls == ["__bool__"]  # outside, the one check of the input values


def test_deferred_checks_let_a_nan_through_to_the_loss():
    logits = torch.tensor([0.1, float("nan"), 0.3, -0.2])
    labels = torch.tensor([0, 1, 0, 1])
    loss = build_loss({"name": "cvar", "base": {"name": "vs"}}, class_counts={"real": 2, "fake": 2})
    with pytest.raises(ValueError, match="NaN"):
        loss(logits, labels)
    with deferred_value_checks():
        assert torch.isnan(loss(logits, labels))
    with pytest.raises(ValueError, match="NaN"):  # only inside
        loss(logits, labels)


def test_epoch_losses_give_the_mean_and_the_first_non_finite_step():
    losses = EpochLosses(steps=2)
    for value in (1.0, 2.0, float("inf"), float("nan"), 3.0):  # more than announced: grows
        losses.add(torch.tensor(value))
    mean, first = losses.read()
    assert first == 2 and math.isnan(mean)
    losses = EpochLosses(steps=3)
    for value in (1.0, 2.0, 6.0):
        losses.add(torch.tensor(value, dtype=torch.float64))
    assert losses.read() == (3.0, None)


@pytest.mark.slow
def test_a_non_finite_loss_stops_the_run_at_the_end_of_its_epoch_naming_the_step(
    toy_dataset, tmp_path, monkeypatch
):
    """The check runs once per epoch, on the device's losses: a NaN at epoch 2, step 3 stops
    the run when epoch 2 ends, names both, and epoch 2 leaves no checkpoint or log row."""
    layer = toy_layer(toy_dataset, tmp_path, epochs=3)
    trainer = Trainer(
        load_run_config(detector="spcup", extra_layers=[layer]),
        tmp_path / "run",
        feature_cache=tmp_path / "cache",
    )
    steps = trainer.batches.steps_per_epoch()
    calls = itertools.count()
    original = TrainStep.__call__

    def poisoned(self, data):
        loss = original(self, data)
        return loss * float("nan") if next(calls) == steps + 2 else loss

    monkeypatch.setattr(TrainStep, "__call__", poisoned)
    with pytest.raises(TrainingError, match=r"non-finite at epoch 2, step 3 .*--resume"):
        trainer.fit()
    assert [row["epoch"] for row in trainer.history] == [1]
    last = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt", expected_detector="spcup")
    assert last["epoch"] == 1


# -- the same weights as the step written before ----------------------------------------------


def reference_loss(detector, logits, labels):
    """spcup's loss as computed before: CVaR_0.9(VS) + 0.6 · logistic AUC over the fake and real
    scores picked out by boolean masks, with the inputs checked on the host."""
    assert bool(torch.isfinite(logits).all())
    vs = build_loss({"name": "vs", "reduction": "none"}, class_counts={"real": 96, "fake": 24})
    cvar = cvar_exact(vs(logits, labels), 0.9)
    fake, real = logits[labels == 1], logits[labels == 0]
    if fake.numel() == 0 or real.numel() == 0:
        return cvar + 0.6 * (logits.sum() * 0.0)
    return cvar + 0.6 * F.softplus(-(fake[:, None] - real[None, :])).mean()


def reference_sam_step(model, base, rho, closure):
    """SAM as written before: per-parameter norms and moves, θ saved and restored one parameter
    at a time, buffers saved around the second pass, the loss checked on the host."""
    base.zero_grad(set_to_none=True)
    with torch.enable_grad():
        loss = closure()
    if not torch.isfinite(loss):
        raise AssertionError("non-finite loss")
    params = [p for group in base.param_groups for p in group["params"] if p.grad is not None]
    with torch.no_grad():
        squared = torch.zeros((), dtype=torch.float64)
        for p in params:
            squared += torch.linalg.vector_norm(p.grad, dtype=torch.float64) ** 2
        norm = squared.sqrt()
        factor = torch.where(norm > 0, rho / norm, torch.zeros_like(norm))
        originals = []
        for p in params:
            originals.append((p, p.detach().clone()))
            p.add_(p.grad * factor.to(p.dtype))
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    base.zero_grad(set_to_none=True)
    with torch.enable_grad():
        closure()
    with torch.no_grad():
        for name, b in model.named_buffers():
            b.copy_(buffers[name])
        for p, original in originals:
            p.copy_(original)
    base.step()
    return float(loss.detach())


def train_two_epochs(detector, step_fn, scheduler, features, labels, batch=32):
    """Two bank epochs as the trainer runs them: latent augmentation, a shuffled order, batches,
    the scheduler stepped per epoch."""
    torch.manual_seed(5)  # dropout
    for epoch in range(2):
        generator = torch.Generator().manual_seed(100 + epoch)
        rows, row_labels = detector.augment_features(features, labels, generator)
        order = torch.randperm(len(row_labels), generator=generator)
        detector.train()
        for start in range(0, len(order) - 1, batch):
            index = order[start : start + batch]
            step_fn({"feature": rows[index], "label": row_labels[index], "image": None})
        scheduler.step()


@pytest.mark.slow
def test_two_spcup_epochs_give_the_weights_of_the_step_written_before():
    """float64, so that rounding cannot be amplified: the bias of a Linear layer in front of a
    BatchNorm gets a gradient that is rounding noise, which AdamW in float32 scales up to steps
    of size lr (in float64 the noise stays far below AdamW's eps)."""
    cfg, detector = head("spcup", dtype=torch.float64)
    reference = copy.deepcopy(detector)
    initial = copy.deepcopy(detector.state_dict())
    features, labels = bank(dtype=torch.float64)

    optimizer = build_optimizer(cfg.optimizer, detector)
    scheduler = build_scheduler(cfg.scheduler, optimizer, epochs=2)
    step = TrainStep(detector, detector, optimizer, amp_dtype=None)
    losses = EpochLosses(16)
    train_two_epochs(detector, lambda data: losses.add(step(data)), scheduler, features, labels)

    base = torch.optim.AdamW(reference.parameters(), lr=1e-5, weight_decay=6e-5, foreach=False)
    ref_scheduler = build_scheduler(cfg.scheduler, base, epochs=2)
    rho = cfg.optimizer["rho"]

    def reference_step(data):
        def closure():
            loss = reference_loss(reference, reference(data)["cls"], data["label"])
            loss.backward()
            return loss

        return reference_sam_step(reference, base, rho, closure)

    train_two_epochs(reference, reference_step, ref_scheduler, features, labels)
    assert losses.read()[1] is None
    moved = 0.0
    for name, value in detector.state_dict().items():
        torch.testing.assert_close(value, reference.state_dict()[name], rtol=0, atol=1e-12)
        if value.is_floating_point():
            moved = max(moved, (value - initial[name]).abs().max().item())
    assert moved > 1e-5  # the weights did move (by far more than the tolerance)


# -- capture ----------------------------------------------------------------------------------


def test_capture_is_off_on_the_cpu_and_an_explicit_request_there_is_an_error():
    cfg, detector = head("spcup")
    optimizer = build_optimizer(cfg.optimizer, detector)
    cpu = torch.device("cpu")
    assert capture_mode("auto", cpu, detector, optimizer) == "off"
    assert capture_mode("off", cpu, detector, optimizer) == "off"
    for mode in ("cuda_graph", "compile"):
        with pytest.raises(ConfigError, match="needs a CUDA device.*train.capture: auto"):
            capture_mode(mode, cpu, detector, optimizer)


def test_the_capture_setting_is_a_checked_train_key():
    assert load_run_config(detector="spcup").train.capture == "auto"
    with pytest.raises(ConfigError, match="train.capture.*cuda_graph"):
        load_run_config(detector="spcup", overrides=["train.capture=cuda_graphs"])


def test_a_failed_capture_is_logged_with_its_cause_and_training_goes_on(monkeypatch, caplog):
    """Capture keyed to the full batch (an epoch of 3 full batches and a smaller 4th: the capture
    is tried on the next full batch, not the 4th); it fails, the WARNING names the cause, the
    step records it and goes on uncaptured, with the weights of plain steps."""
    tried = force_capture_failure(monkeypatch)
    caplog.set_level(logging.WARNING, logger="dfshield.engine.steps")
    features, labels = bank(n=56)
    sizes = [16, 16, 16, 8, 16, 16]
    runs = {}
    for capture in ("off", "cuda_graph"):
        cfg, detector = head("spcup", dropout=0.0)
        optimizer = build_optimizer(cfg.optimizer, detector)
        step = TrainStep(detector, detector, optimizer, amp_dtype=None, capture=capture)
        starts = itertools.accumulate(sizes, initial=0)
        for start, size in zip(starts, sizes):
            index = slice(start % 40, start % 40 + size)
            step({"feature": features[index], "label": labels[index], "image": None})
        runs[capture] = (detector.state_dict(), step)
    assert tried == [16]
    step = runs["cuda_graph"][1]
    assert step.capture == "off" and CAPTURE_FAILURE in step.capture_failure
    assert runs["off"][1].capture_failure is None
    warnings = [r for r in caplog.records if r.name == "dfshield.engine.steps"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert CAPTURE_FAILURE in warnings[0].getMessage()
    assert "continues without capture" in warnings[0].getMessage()
    for name, value in runs["off"][0].items():
        torch.testing.assert_close(runs["cuda_graph"][0][name], value, msg=name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_captured_step_gives_the_weights_of_the_plain_step_on_a_gpu():
    """Captured (CUDA graph) against uncaptured on the same GPU, float64, no dropout: the same
    weights after warm-up, capture, replays with a learning rate changed by the scheduler in
    between, and a smaller last batch (run uncaptured)."""
    device = torch.device("cuda")
    runs = {}
    for capture in ("off", "cuda_graph"):
        cfg, detector = head("spcup", dtype=torch.float64, dropout=0.0)
        detector = detector.to(device)
        optimizer = build_optimizer(cfg.optimizer, detector)
        assert optimizer.base_optimizer.param_groups[0]["fused"]
        assert capture_mode("auto", device, detector, optimizer) == "cuda_graph"
        step = TrainStep(detector, detector, optimizer, amp_dtype=None, capture=capture)
        scheduler = build_scheduler(cfg.scheduler, optimizer, epochs=3)
        features, labels = (t.to(device) for t in bank(n=200, dtype=torch.float64))
        losses = EpochLosses(30)
        torch.manual_seed(0)
        for epoch in range(3):
            generator = torch.Generator(device=device).manual_seed(epoch)
            order = torch.randperm(len(labels), generator=generator, device=device)
            for start in range(0, len(order), 48):  # 4 batches of 48, then one of 8
                index = order[start : start + 48]
                losses.add(
                    step({"feature": features[index], "label": labels[index], "image": None})
                )
            scheduler.step()
        assert step.capture == capture
        runs[capture] = (detector.state_dict(), losses.read())
    (plain, plain_losses), (graphed, graphed_losses) = runs["off"], runs["cuda_graph"]
    for name, value in plain.items():
        torch.testing.assert_close(graphed[name], value, rtol=1e-9, atol=1e-12)
    assert graphed_losses[1] is None
    assert graphed_losses[0] == pytest.approx(plain_losses[0], rel=1e-9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_rdaa_steps_are_captured_on_a_gpu():
    """rdaa's step has no host read on a GPU, so it is captured; its augmenter draws noise, whose
    stream differs between graph replays and plain steps, so only the run itself is checked."""
    device = torch.device("cuda")
    cfg, detector = head("rdaa")
    detector = detector.to(device)
    optimizer = build_optimizer(cfg.optimizer, detector)
    step = TrainStep(detector, detector, optimizer, amp_dtype=None, capture="cuda_graph")
    before = copy.deepcopy(detector.state_dict())
    features, labels = (t.to(device) for t in bank())
    losses = EpochLosses(8)
    for start in range(0, 120, 16):  # 7 batches of 16, then one of 8
        index = slice(start, start + 16)
        losses.add(step({"feature": features[index], "label": labels[index], "image": None}))
    assert step.capture == "cuda_graph" and step._graph is not None
    mean, bad = losses.read()
    assert bad is None and math.isfinite(mean)
    assert any(not torch.equal(before[k], v) for k, v in detector.state_dict().items())
