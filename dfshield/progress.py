"""Progress bars that show on a terminal and stay quiet in logs (CI, nohup, redirected output)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm


def progress_bar(iterable: Iterable | None = None, *, enabled: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar when ``enabled`` and stderr is a terminal; otherwise a silent pass-through."""
    return tqdm(
        iterable, disable=None if enabled else True, leave=kwargs.pop("leave", False), **kwargs
    )


def write_above_bars(message: str) -> None:
    """Print ``message`` to stderr above any progress bar, without breaking it."""
    tqdm.write(message, file=sys.stderr)
