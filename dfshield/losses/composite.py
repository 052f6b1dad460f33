"""Weighted sum of losses listed in the config (e.g. the SP Cup loss CVaR(VS) + γ·AUC)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from dfshield import validation
from dfshield.errors import ConfigError
from dfshield.registry import LOSS


@LOSS.register_module(module_name="composite")
class CompositeLoss(nn.Module):
    """Weighted sum of loss terms, e.g. CVaR_α(VS) + γ·AUC (docs/methods.md §7.8).

    ``terms`` is a list of loss configs, each with an optional ``weight`` (≥ 0, default 1); the
    class counts reach every term. ``last_terms`` holds the unweighted values of the last call.
    """

    def __init__(self, terms: list | None = None, class_counts: dict | None = None):
        super().__init__()
        if not isinstance(terms, (list, tuple)) or not terms:
            raise ConfigError(
                f"loss 'composite': 'terms' must be a non-empty list of loss configs "
                f"such as [{{name: bce, weight: 1.0}}]; got {terms!r}"
            )
        self.keys: list[str] = []
        self.weights: list[float] = []
        self.terms = nn.ModuleList()
        for i, term in enumerate(terms):
            where = f"terms[{i}]"
            if not isinstance(term, Mapping) or not isinstance(term.get("name"), str):
                raise ConfigError(
                    f"loss 'composite': '{where}' must be a loss config mapping "
                    f"with a 'name', e.g. {{name: bce, weight: 1.0}}; got {term!r}"
                )
            cfg = dict(term)
            weight = validation.number(
                "loss 'composite'", f"{where}.weight", cfg.pop("weight", 1.0), low=0.0
            )
            if cfg.get("reduction", "mean") != "mean":
                raise ConfigError(
                    f"loss 'composite': '{where}.reduction' must be mean (each term "
                    f"must be a scalar); got {cfg['reduction']!r}"
                )
            try:
                module = LOSS.build(cfg, class_counts=class_counts)
            except ConfigError as error:
                raise type(error)(f"loss 'composite': {where} ({cfg['name']}): {error}") from error
            key, n = cfg["name"], 2
            while key in self.keys:
                key, n = f"{cfg['name']}#{n}", n + 1
            self.keys.append(key)
            self.weights.append(weight)
            self.terms.append(module)
        self._last: dict[str, torch.Tensor] = {}

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        total: torch.Tensor | None = None
        last = {}
        for key, weight, term in zip(self.keys, self.weights, self.terms):
            value = term(logits, labels)
            if value.dim() != 0:
                raise ValueError(
                    f"loss 'composite': term '{key}' returned shape "
                    f"{tuple(value.shape)}, not a scalar"
                )
            last[key] = value.detach()
            total = weight * value if total is None else total + weight * value
        self._last = last
        assert total is not None  # __init__ refuses an empty list of terms
        return total

    @property
    def last_terms(self) -> dict[str, float]:
        """Unweighted value of each term from the last ``forward`` (empty before the first)."""
        return {key: float(value) for key, value in self._last.items()}

    def extra_repr(self) -> str:
        return ", ".join(f"{key}×{weight:g}" for key, weight in zip(self.keys, self.weights))
