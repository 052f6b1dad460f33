"""Sharpness-aware minimisation (SAM, Foret et al. 2021) and ASAM (Kwon et al. 2021) around any
registered optimizer (docs/methods.md §8.1). Driven by ``step(closure)`` or by DeepfakeBench's
``first_step`` / ``second_step``, which give the same weights.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from dfshield import validation
from dfshield.errors import ConfigError
from dfshield.optimizers import _checks
from dfshield.registry import OPTIMIZER

_OWNER = "optimizer 'sam'"
_BASE_EXAMPLE = "base: {name: adamw, lr: 1.0e-5, weight_decay: 6.0e-5}"
_CLOSURE_HELP = """SAM.step() needs a closure. SAM evaluates the loss twice per step (at θ and at
the perturbed θ + ε), so it must be able to recompute the loss itself. Pass a function that
recomputes the loss on the same batch, calls backward() and returns the loss:

    def closure():
        loss = criterion(model(inputs), targets)
        loss.backward()
        return loss

    loss = optimizer.step(closure)   # the loss at θ, before the update

There is no need to call optimizer.zero_grad() inside the closure: SAM clears the gradients
before each of its two evaluations."""

#: A module and copies of its buffers, (name, tensor) pairs.
_SavedBuffers = tuple[nn.Module, list[tuple[str, torch.Tensor]]]
#: What SAM.first_step saves for SAM.second_step: (parameter, θ) pairs and the model's buffers.
_Pending = tuple[list[tuple[torch.Tensor, torch.Tensor]], list[_SavedBuffers]]


@OPTIMIZER.register_module(module_name="sam")
class SAM(torch.optim.Optimizer):
    """Sharpness-aware minimisation around a base optimizer (Foret et al., ICLR 2021), or ASAM.

    ``step(closure)`` takes the gradient at θ + ε, restores θ exactly and lets the base optimizer
    step; it returns the loss at θ (docs/methods.md §8.1). Buffers (BatchNorm statistics) advance
    once per step. ``param_groups``, ``state`` and ``state_dict()`` are the base optimizer's, so
    schedulers and resume work unchanged; a group may set its own ``rho``, ``adaptive``, ``eta``.
    DeepfakeBench's two-step API (:meth:`first_step` after the first backward, :meth:`second_step`
    after the second) gives the same weights bit for bit. ``base`` is required (any optimizer but
    ``sam``). ``module`` (set by ``build_optimizer``) is the model whose buffers are restored after
    the second pass; without it, run that pass inside :func:`buffers_restored`.
    """

    def __init__(
        self,
        params: Any,
        base: dict | None = None,
        rho: float = 0.05,
        adaptive: bool = False,
        eta: float = 0.0,
        module: nn.Module | None = None,
    ):
        params, found_module = _checks.trainable(_OWNER, params)
        module = found_module if module is None else module
        if module is not None and not isinstance(module, nn.Module):
            raise ConfigError(
                f"{_OWNER}: 'module' must be an nn.Module or None, got {type(module).__name__}"
            )
        sam_defaults = dict(
            rho=validation.number(_OWNER, "rho", rho, low=0.0),
            adaptive=validation.boolean(_OWNER, "adaptive", adaptive),
            eta=validation.number(_OWNER, "eta", eta, low=0.0),
        )
        base_optimizer = _build_base(base, params)
        # Optimizer.__init__ fills SAM's defaults into the base optimizer's group dicts (the same
        # dict objects), then _link makes SAM's group list *be* the base optimizer's list.
        super().__init__(base_optimizer.param_groups, sam_defaults)
        self.defaults = {**base_optimizer.defaults, **sam_defaults}
        self._sam_defaults = sam_defaults
        self.base_optimizer = base_optimizer
        self.module = module
        self._pending: _Pending | None = None
        self._link()

    # -- the step -------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One SAM step (``closure`` recomputes the loss and calls backward); the loss at θ."""
        if closure is None or not callable(closure):
            raise TypeError(_CLOSURE_HELP)
        self._check_no_pending("step(closure)")
        self.zero_grad(set_to_none=True)
        with torch.enable_grad():
            loss = closure()
        originals = self._perturb()
        self.zero_grad(set_to_none=True)
        try:
            with buffers_restored(self.module), torch.enable_grad():
                closure()
        finally:
            _restore(originals)
        self.base_optimizer.step()
        return loss

    @torch.no_grad()
    def first_step(self, zero_grad: bool = False) -> None:
        """Move the parameters to θ + ε from the gradients in ``.grad``; save θ (and the buffers).
        Call it after the first backward; then the second forward, backward, :meth:`second_step`."""
        self._check_no_pending("first_step()")
        buffers = _save_buffers(self.module) if self.module is not None else []
        self._pending = (self._perturb(), buffers)
        if zero_grad:
            self.zero_grad(set_to_none=True)

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        """Restore θ (bit for bit) and the buffers, then step the base optimizer with ``.grad``."""
        if self._pending is None:
            raise RuntimeError(
                "SAM.second_step() needs a first_step() before it: call first_step() after the "
                "first backward() and second_step() after the second one"
            )
        (parameters, buffers), self._pending = self._pending, None
        _restore(parameters)
        _restore_buffers(buffers)
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad(set_to_none=True)

    def _check_no_pending(self, caller: str) -> None:
        if self._pending is not None:
            raise RuntimeError(
                f"SAM.{caller} was called between first_step() and second_step(): the "
                f"parameters are still at the perturbed point θ + ε. Call second_step() first "
                f"(after the second backward())"
            )

    def _perturb(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Move every parameter with a gradient to θ + ε; return (parameter, saved θ) pairs. Buckets
        of one group, device and dtype use ``torch._foreach_*`` ops (a few kernels per bucket, not
        per parameter); nothing is read on the host."""
        buckets: dict[tuple, tuple[dict[str, Any], list[torch.Tensor], list[torch.Tensor]]] = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    key = (id(group), p.device, p.dtype, p.grad.dtype)
                    _, params, grads = buckets.setdefault(key, (group, [], []))
                    params.append(p)
                    grads.append(p.grad)
        if not buckets:
            return []
        device = next(iter(buckets.values()))[2][0].device
        dtype = torch.float32  # half-precision gradients are summed in float32, doubles in double
        for _, _, _, grad_dtype in buckets:
            dtype = torch.promote_types(dtype, grad_dtype)
        norms, moves = [], []
        for group, params, grads in buckets.values():
            scaled: list[torch.Tensor] | tuple[torch.Tensor, ...]  # the foreach ops' types
            step: list[torch.Tensor] | tuple[torch.Tensor, ...]
            if group["adaptive"]:  # ASAM: ‖T·g‖ and the step T²·g, T = |θ| + η
                scale = torch._foreach_abs(params)
                if group["eta"]:
                    torch._foreach_add_(scale, group["eta"])
                scaled = torch._foreach_mul(grads, scale)
                step = torch._foreach_mul(grads, torch._foreach_mul(scale, scale))
            else:
                scaled = step = grads
            norms += [n.to(device) for n in torch._foreach_norm(scaled, 2, dtype=dtype)]
            moves.append((group, params, step))
        norm = torch.linalg.vector_norm(torch.stack(norms))
        tiny = torch.finfo(dtype).tiny
        inverse = torch.where(norm > 0, 1.0 / norm.clamp_min(tiny), torch.zeros_like(norm))
        originals: list[tuple[torch.Tensor, torch.Tensor]] = []
        for group, params, step in moves:
            factor = (inverse * group["rho"]).to(device=params[0].device, dtype=params[0].dtype)
            saved = [torch.empty_like(p) for p in params]
            torch._foreach_copy_(saved, params)
            torch._foreach_add_(params, torch._foreach_mul(step, factor))
            originals += zip(params, saved)
        return originals

    # -- groups and state -----------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a param group to the base optimizer (SAM shares its group list)."""
        if "base_optimizer" not in self.__dict__:  # called by Optimizer.__init__
            super().add_param_group(param_group)
            _check_group(param_group)
            return
        for key, value in self._sam_defaults.items():
            param_group.setdefault(key, value)
        _check_group(param_group)
        self.base_optimizer.add_param_group(param_group)
        self._link()

    def state_dict(self) -> dict[str, Any]:
        """The base optimizer's state dict; its param groups also hold rho, adaptive and eta."""
        return self.base_optimizer.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict saved by :meth:`state_dict` (or by a plain base optimizer)."""
        self.base_optimizer.load_state_dict(state_dict)
        self._link()

    def _link(self) -> None:
        """Share the base optimizer's group list and state (``load_state_dict`` replaces both)."""
        self.param_groups = self.base_optimizer.param_groups
        self.state = self.base_optimizer.state
        for group in self.param_groups:
            for key, value in self._sam_defaults.items():
                group.setdefault(key, value)
            _check_group(group)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.update(
            base_optimizer=self.base_optimizer, module=self.module, _sam_defaults=self._sam_defaults
        )
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._pending = None
        self._link()

    def __repr__(self) -> str:
        return f"SAM(base={self.base_optimizer!r})"


def _restore(originals: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Copy the saved θ back into the parameters, bit for bit (one ``_foreach_copy_``)."""
    if originals:
        params, saved = zip(*originals)
        torch._foreach_copy_(list(params), list(saved))


def _check_group(group: dict[str, Any]) -> None:
    group["rho"] = validation.number(_OWNER, "rho", group["rho"], low=0.0)
    group["adaptive"] = validation.boolean(_OWNER, "adaptive", group["adaptive"])
    group["eta"] = validation.number(_OWNER, "eta", group["eta"], low=0.0)


def _build_base(base: Any, params: list) -> torch.optim.Optimizer:
    """Build SAM's base optimizer from its config; errors say they are about the 'base' key."""
    names = ", ".join(n for n in OPTIMIZER.names() if n != "sam")
    if base is None:
        raise ConfigError(
            f"{_OWNER} needs a 'base' optimizer config, e.g. {_BASE_EXAMPLE}. "
            f"Base optimizers: {names}"
        )
    if isinstance(base, torch.optim.Optimizer):
        raise ConfigError(
            f"{_OWNER}: 'base' must be a config (a mapping), not an optimizer "
            f"object; write e.g. {_BASE_EXAMPLE}"
        )
    try:
        cfg = _checks.as_config("SAM base optimizer", base)
        if "name" not in cfg:
            raise ConfigError(
                f"the 'base' config needs a 'name' key; got keys {sorted(cfg)}. "
                f"Base optimizers: {names}"
            )
        _checks.reject_reserved(
            "the 'base' config",
            cfg,
            {"params": "SAM's parameters", "module": "set by build_optimizer"},
        )
        factory = OPTIMIZER.get(cfg["name"])
        if inspect.isclass(factory) and issubclass(factory, SAM):
            raise ConfigError(
                f"SAM cannot wrap SAM (base name {cfg['name']!r}); give a plain "
                f"optimizer as 'base'. Base optimizers: {names}"
            )
        optimizer = OPTIMIZER.build(cfg, params=params)
    except ConfigError as error:
        raise type(error)(f"{_OWNER}, key 'base': {error}") from error
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ConfigError(
            f"{_OWNER}, key 'base': optimizer {cfg['name']!r} built a "
            f"{type(optimizer).__name__}, not a torch.optim.Optimizer"
        )
    return optimizer


def _save_buffers(root: nn.Module, seen: set[int] | None = None) -> list[_SavedBuffers]:
    """Copies of the tensor buffers of ``root`` and its submodules (those not in ``seen``)."""
    seen = set() if seen is None else seen
    saved = []
    for sub in root.modules():
        if id(sub) in seen:
            continue
        seen.add(id(sub))
        copies = [
            (name, buf.detach().clone())
            for name, buf in sub._buffers.items()
            if isinstance(buf, torch.Tensor)
            and not isinstance(buf, nn.parameter.UninitializedBuffer)
        ]
        saved.append((sub, copies))
    return saved


@torch.no_grad()
def _restore_buffers(saved: list[_SavedBuffers]) -> None:
    """Copy saved buffers back (put the saved tensor back where a forward replaced the object)."""
    for sub, copies in saved:
        for name, value in copies:
            current = sub._buffers.get(name)
            if (
                isinstance(current, torch.Tensor)
                and current.shape == value.shape
                and current.dtype == value.dtype
                and current.device == value.device
            ):
                current.copy_(value)
            else:
                sub._buffers[name] = value


@contextlib.contextmanager
def buffers_restored(module: nn.Module | None = None) -> Iterator[None]:
    """Leave no trace of the forwards run inside: buffers are copied back exactly on exit. Buffers
    are saved on entry, or, with ``module=None``, when their module first runs. The backward must
    run inside too: BatchNorm's backward checks its running statistics are unchanged."""
    saved: list[_SavedBuffers] = []
    seen: set[int] = set()
    handle = None
    if module is not None:
        saved = _save_buffers(module, seen)
    else:
        handle = nn.modules.module.register_module_forward_pre_hook(
            lambda sub, args: saved.extend(_save_buffers(sub, seen))
        )
    try:
        yield
    finally:
        if handle is not None:
            handle.remove()
        _restore_buffers(saved)


__all__ = ["SAM", "buffers_restored"]
