"""Closest-name suggestions for error messages ("did you mean ...?")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, choices: Iterable[str]) -> str | None:
    """Return the choice most similar to ``name``, or ``None`` when nothing is close."""
    matches = difflib.get_close_matches(str(name), sorted(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ``" Did you mean 'x'?"`` sentence, or an empty string."""
    match = closest(name, choices)
    return f" Did you mean '{match}'?" if match else ""
