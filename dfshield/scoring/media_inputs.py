"""``dfshield predict``'s inputs: files and folders as :class:`MediaItem`, printable names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dfshield.media.pipeline import IMAGE_EXTENSIONS, media_kind
from dfshield.media.video import VIDEO_EXTENSIONS


@dataclass
class MediaItem:
    path: Path
    kind: str  # "image" | "video" | "error"
    message: str = ""


def discover(inputs: list[str]) -> list[MediaItem]:
    """One item per media file (folders recursively, sorted); problems as ``error`` items."""
    known = ", ".join(sorted(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS))
    items: list[MediaItem] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            media = [p for p in files if media_kind(p)]
            if not media:
                what = f"only {len(files)} other file(s)" if files else "no files"
                items.append(
                    MediaItem(
                        path,
                        "error",
                        f"folder holds no images or videos ({what}); supported extensions: {known}",
                    )
                )
                continue
            for p in files:
                kind = media_kind(p)
                items.append(
                    MediaItem(p, kind)
                    if kind
                    else MediaItem(
                        p,
                        "error",
                        f"not an image or video (extension '{p.suffix or 'none'}'), passed over",
                    )
                )
        elif path.is_file():
            kind = media_kind(path)
            items.append(
                MediaItem(path, kind)
                if kind
                else MediaItem(
                    path,
                    "error",
                    f"not an image or video (extension '{path.suffix or 'none'}'); "
                    f"supported: {known}",
                )
            )
        else:
            items.append(MediaItem(path, "error", "no such file or folder"))
    return items


def printable(text: str) -> str:
    """``text`` with non-UTF-8 bytes and unprintable characters (ESC, newlines, bidi overrides) as
    ``\\xNN`` escapes, so no name breaks a CSV or JSON or drives a terminal."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text
    )
