"""Where frame bytes come from: a DeepfakeBench LMDB (:class:`LmdbStore`) or files on disk
(:class:`FolderStore`), both mapping a dataset-JSON frame path to bytes by shared key rules.

LMDB keys are ``"<Dataset>\\\\" + <relative path>``, with ``\\`` (Windows-built) or a ``\\``/``/``
mixture (Linux-built): each key is tried in every spelling, then neighbouring keys differing only
in separators; absolute JSON paths are tried from the dataset's folder on. Still missing:
:class:`MissingKeyError` with the closest keys. Environments open read-only, lazily, once per
process (py-lmdb refuses a second); a forked DataLoader worker opens its own."""

from __future__ import annotations

import difflib
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dfshield.data.index import dataset_relative_paths, lmdb_name, normalize_path
from dfshield.errors import DataError

_DATASETS_PREFIX = re.compile(r"^\.[\\/]+datasets[\\/]+")
_SEPARATOR_HINT = (
    "A separator mismatch ('\\' vs '/') is the usual cause: DeepfakeBench's LMDB keys "
    "are '<Dataset>\\<relative path>' and those built on Linux use '/' inside the "
    "relative path, while the released JSONs write '\\' throughout."
)

# One environment per LMDB and process: {realpath: (pid that opened it, environment)}.
# py-lmdb refuses to open the same environment twice in a process, and an environment inherited
# through fork must not be used by the child, so every store of a path shares the entry, and a
# child (whose pid differs) closes its inherited copy and opens its own.
_ENVIRONMENTS: dict[str, tuple[int, Any]] = {}
_LOCK = threading.Lock()


def _reset_lock_in_child() -> None:
    global _LOCK
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock_in_child)


def _shared_environment(path: str, key: str | None = None) -> Any:
    key = key or os.path.realpath(path)
    pid = os.getpid()
    entry = _ENVIRONMENTS.get(key)
    if entry is not None and entry[0] == pid:
        return entry[1]
    import lmdb

    with _LOCK:
        entry = _ENVIRONMENTS.get(key)
        if entry is not None:
            if entry[0] == pid:
                return entry[1]
            try:  # inherited through fork: release this process's copy, never use it
                entry[1].close()
            except Exception:  # noqa: BLE001 - a broken inherited handle must not stop the reader
                pass
            del _ENVIRONMENTS[key]
        try:
            env = lmdb.open(
                path,
                readonly=True,
                lock=False,
                readahead=False,
                subdir=True,
                create=False,
                max_readers=1024,
            )
        except lmdb.Error as error:
            raise DataError(f"cannot open LMDB {path!r}: {error}") from error
        _check_complete(env, path)
        _ENVIRONMENTS[key] = (pid, env)
        return env


def _check_complete(env: Any, path: str) -> None:
    """Refuse an LMDB whose ``data.mdb`` is shorter than its header says (cut copy, full disk):
    reading a mapped page past the end would kill the process with SIGBUS."""
    needed = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    size = os.path.getsize(os.path.join(path, "data.mdb"))
    if size < needed:
        env.close()
        raise DataError(
            f"LMDB {path!r} is truncated: its data.mdb has {size} bytes, its pages need "
            f"{needed}. Copy it again, or rebuild it (dfshield build-lmdb ... --overwrite)"
        )


def _close_environment(path: str) -> None:
    key = os.path.realpath(path)
    with _LOCK:
        entry = _ENVIRONMENTS.pop(key, None)
    if entry is not None:
        entry[1].close()


class MissingKeyError(DataError):
    """A frame key exists neither in the LMDB (under any separator variant) nor on disk."""

    def __init__(
        self,
        message: str,
        key: str | None = None,
        location: str | None = None,
        closest: tuple[str, ...] = (),
    ):
        super().__init__(message)
        self.key = key
        self.location = location
        self.closest = tuple(closest)


def key_variants(key: str, folder: str | None = None) -> list[str]:
    """The spellings of a key to try, in order: as given, without ``./datasets\\``, all ``\\``, all
    ``/``, ``<first part>\\<rest with />``; with ``folder``, an absolute key is also tried from that
    folder on, right after the key as given (:func:`dfshield.data.index.dataset_relative_paths`)."""
    variants = [key]
    if folder:
        for relative in dataset_relative_paths(key, folder):
            variants += key_variants(relative)
    stripped = _DATASETS_PREFIX.sub("", key)
    parts = [p for p in re.split(r"[\\/]+", stripped) if p not in ("", ".")]
    if stripped != key:
        variants.append(stripped)
    if parts:
        variants += ["\\".join(parts), "/".join(parts)]
        if len(parts) > 1:
            variants.append(parts[0] + "\\" + "/".join(parts[1:]))
    return list(dict.fromkeys(variants))  # without repeats, in order


def companion_key(frame_key: str, kind: str) -> str:
    """The key of a frame's mask (``kind="mask"``: ``frames`` -> ``masks``) or landmarks
    (``"landmark"``: also ``.png`` -> ``.npy``); only the last ``frames`` changes."""
    folder = {"mask": "masks", "landmark": "landmarks"}[kind]
    parts = re.split(r"([\\/]+)", frame_key)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "frames":
            parts[i] = folder
            break
    else:
        raise DataError(
            f"frame key '{frame_key}' has no 'frames' folder, so its {kind} key "
            f"cannot be derived (DeepfakeBench replaces 'frames' by '{folder}')"
        )
    key = "".join(parts)
    if kind == "landmark":
        key = re.sub(r"\.[A-Za-z0-9]+$", ".npy", key)
    return key


def _rank(wanted: str, candidates: set[str], n: int) -> list[str]:
    target = normalize_path(wanted)
    scored = sorted(
        candidates,
        key=lambda c: (
            -difflib.SequenceMatcher(None, normalize_path(c), target, autojunk=False).ratio(),
            c,
        ),
    )
    return scored[:n]


class LmdbStore:
    """Read-only access to one DeepfakeBench LMDB environment folder (``path``: ``data.mdb``)."""

    kind = "lmdb"

    def __init__(self, path: str | os.PathLike, dataset: str | None = None):
        self.path = str(path)
        self.dataset = dataset
        folder = Path(self.path)
        if not folder.is_dir() or not (folder / "data.mdb").is_file():
            parent = folder.parent
            present = sorted(p.name for p in parent.glob("*_lmdb")) if parent.is_dir() else []
            near = difflib.get_close_matches(folder.name, present, n=1, cutoff=0.5)
            what = "has no data.mdb" if folder.is_dir() else "does not exist"
            raise DataError(
                f"LMDB {self.path!r}{' for dataset ' + repr(dataset) if dataset else ''} {what}."
                f"{' Did you mean ' + repr(near[0]) + '?' if near else ''} LMDBs in "
                f"{str(parent)!r}: {', '.join(present) or 'none'}. "
                f"Set data.lmdb_dir (or --lmdb-dir) "
                f"to the folder holding <Dataset>_lmdb, or set it to null to read frames from disk"
            )
        self._key = os.path.realpath(self.path)
        self._folder = folder.name.removesuffix("_lmdb")  # its keys start with this name
        self._variant_hint = 0

    # -- process-local environment --------------------------------------------------------
    def _environment(self) -> Any:
        return _shared_environment(self.path, self._key)

    @property
    def is_open(self) -> bool:
        """Whether this process has opened the environment (it opens on the first read)."""
        entry = _ENVIRONMENTS.get(self._key)
        return entry is not None and entry[0] == os.getpid()

    def close(self) -> None:
        """Close this process's environment of the LMDB (shared; it re-opens on the next read)."""
        _close_environment(self.path)

    # -- reading --------------------------------------------------------------------------
    def _lookup(self, key: str, thorough: bool = True) -> tuple[str, bytes] | None:
        variants = key_variants(key, self._folder)
        order = list(range(len(variants)))
        if self._variant_hint < len(order):
            order.insert(0, order.pop(self._variant_hint))
        with self._environment().begin(write=False, buffers=False) as txn:
            for i in order:
                data = txn.get(variants[i].encode("utf-8"))
                if data is not None:
                    self._variant_hint = i
                    return variants[i], data
            found = self._equivalent_key(txn, key) if thorough else None
            if found is not None:
                return found, txn.get(found.encode("utf-8"))
        return None

    def _neighbours(self, txn: Any, key: str, per_probe: int = 6) -> set[str]:
        """Existing keys near ``key`` in sort order, probing each of its folder prefixes."""
        found: set[str] = set()
        with txn.cursor() as cursor:
            for variant in key_variants(key, self._folder):
                probes = [variant] + [variant[: m.end()] for m in re.finditer(r"[\\/]", variant)][
                    ::-1
                ]
                for probe in probes:
                    if cursor.set_range(probe.encode("utf-8")):
                        for _ in range(per_probe):
                            found.add(cursor.key().decode("utf-8", "replace"))
                            if not cursor.next():
                                break
                    if not cursor.set_range(probe.encode("utf-8")):
                        if not cursor.last():
                            return found  # empty database
                        found.add(cursor.key().decode("utf-8", "replace"))
                    for _ in range(per_probe):
                        if not cursor.prev():
                            break
                        found.add(cursor.key().decode("utf-8", "replace"))
            if not found and cursor.first():
                for _ in range(per_probe):
                    found.add(cursor.key().decode("utf-8", "replace"))
                    if not cursor.next():
                        break
        return found

    def _equivalent_key(self, txn: Any, key: str) -> str | None:
        targets = {normalize_path(key), *dataset_relative_paths(key, self._folder)}
        for candidate in sorted(self._neighbours(txn, key, per_probe=3)):
            if normalize_path(candidate) in targets:
                return candidate
        return None

    def resolve(self, key: str) -> str | None:
        """The existing key that ``key`` refers to (maybe another spelling), or ``None``."""
        found = self._lookup(key)
        return found[0] if found else None

    def get(self, key: str, dataset: str | None = None) -> bytes:
        """The bytes stored under ``key`` (any separator spelling); :class:`MissingKeyError` if
        absent (its message names ``dataset``, default the store's)."""
        found = self._lookup(key)
        if found is None:
            raise self.missing_error(key, dataset)
        return found[1]

    def get_optional(self, key: str, thorough: bool = True) -> bytes | None:
        """Like :meth:`get` but ``None`` for a missing key; ``thorough=False`` skips the neighbour
        search (for often-absent companions, such as real videos' masks)."""
        found = self._lookup(key, thorough)
        return None if found is None else found[1]

    def closest_keys(self, key: str, n: int = 3) -> list[str]:
        """Up to ``n`` existing keys most similar to ``key``."""
        with self._environment().begin(write=False) as txn:
            return _rank(key, self._neighbours(txn, key), n)

    def missing_error(self, key: str, dataset: str | None = None) -> MissingKeyError:
        dataset = dataset or self.dataset
        closest = self.closest_keys(key)
        tried = key_variants(key, self._folder)[1:]
        text = (
            f"frame key {key!r}{' of dataset ' + repr(dataset) if dataset else ''} is not "
            f"in the LMDB {self.path!r}"
        )
        if tried:
            text += f" (also tried {', '.join(repr(t) for t in tried)})"
        text += (
            f". Closest existing keys: {', '.join(repr(c) for c in closest)}."
            if closest
            else ". The LMDB is empty."
        )
        text += (
            f" {_SEPARATOR_HINT} Otherwise the LMDB is incomplete or was built from another "
            f"JSON; `dfshield data-info --dataset {dataset or '<name>'}` lists every missing key."
        )
        return MissingKeyError(text, key=key, location=self.path, closest=tuple(closest))

    def __len__(self) -> int:
        return int(self._environment().stat()["entries"])

    def keys(self) -> Iterator[str]:
        """Every key, in LMDB order."""
        with self._environment().begin(write=False) as txn, txn.cursor() as cursor:
            for raw in cursor.iternext(keys=True, values=False):
                yield bytes(raw).decode("utf-8", "replace")

    def describe(self) -> str:
        return f"LMDB {self.path}"

    def __repr__(self) -> str:
        return f"LmdbStore({self.path!r})"


class FolderStore:
    """Frames as files on disk, JSON paths read relative to ``root`` (``None``: current folder).

    Separators are normalised; ``./datasets\\`` is dropped (also tried). An absolute path is used
    as is, then from the ``dataset``'s folder on under ``root`` (data moved, Windows paths):
    ``/old/Celeb-DF-v2/YouTube-real/...`` -> ``<root>/Celeb-DF-v2/YouTube-real/...``."""

    kind = "folder"

    def __init__(self, root: str | os.PathLike | None = None, dataset: str | None = None):
        self.root = Path(root) if root is not None else Path(".")
        self.dataset = dataset
        self._folder = lmdb_name(dataset) if dataset else None
        if not self.root.is_dir():
            raise DataError(
                f"data root {str(self.root)!r}{' for dataset ' + repr(dataset) if dataset else ''} "
                f"does not exist; set data.data_root to the folder that the JSON frame "
                f"paths are relative to, or data.lmdb_dir to read from LMDBs"
            )

    def candidates(self, key: str) -> list[Path]:
        """The file paths tried for ``key``, in order."""
        plain = normalize_path(key)
        kept = key.replace("\\", "/")
        relative = dataset_relative_paths(key, self._folder) if self._folder else []
        moved = [self.root / p for p in relative]
        if Path(kept).is_absolute():
            return [Path(kept), *moved]
        if moved:  # a Windows drive path read on another system
            return moved
        paths = [self.root / plain]
        if kept.lstrip("./") != plain:
            paths.append(self.root / kept)
        return paths

    def resolve(self, key: str) -> str | None:
        for path in self.candidates(key):
            if path.is_file():
                return str(path)
        return None

    def get(self, key: str, dataset: str | None = None) -> bytes:
        dataset = dataset or self.dataset
        path = self.resolve(key)
        if path is None:
            raise self.missing_error(key, dataset)
        try:
            return Path(path).read_bytes()
        except OSError as error:
            raise DataError(
                f"cannot read frame file {path!r}"
                f"{' of dataset ' + repr(dataset) if dataset else ''}: {error}"
            ) from error

    def get_optional(self, key: str, thorough: bool = True) -> bytes | None:
        path = self.resolve(key)
        return None if path is None else Path(path).read_bytes()

    def closest_keys(self, key: str, n: int = 3) -> list[str]:
        """Up to ``n`` existing files most similar to the first candidate path of ``key``."""
        wanted = self.candidates(key)[0]
        folder = wanted.parent
        while not folder.is_dir() and folder != folder.parent:
            folder = folder.parent
        try:
            entries = {str(p) for p in folder.iterdir()}
        except OSError:
            return []
        return _rank(str(wanted), entries, n)

    def missing_error(self, key: str, dataset: str | None = None) -> MissingKeyError:
        dataset = dataset or self.dataset
        tried = self.candidates(key)
        closest = self.closest_keys(key)
        text = (
            f"frame {key!r}{' of dataset ' + repr(dataset) if dataset else ''} is not on "
            f"disk: looked for {', '.join(repr(str(p)) for p in tried)}."
        )
        if closest:
            text += f" Closest existing paths: {', '.join(repr(c) for c in closest)}."
        text += (
            f" Set data.data_root to the folder the JSON paths are relative to "
            f"(now {str(self.root)!r}), or data.lmdb_dir to read from LMDBs."
        )
        return MissingKeyError(text, key=key, location=str(self.root), closest=tuple(closest))

    def describe(self) -> str:
        return f"folder {self.root}"

    def __repr__(self) -> str:
        return f"FolderStore({str(self.root)!r})"


def store_path(dataset: str, lmdb_dir: str | os.PathLike) -> str:
    """``<lmdb_dir>/<Dataset>_lmdb``; FF-family names (and ``_c40``) share one LMDB."""
    return os.path.join(str(lmdb_dir), f"{lmdb_name(dataset)}_lmdb")


def open_store(dataset: str, cfg: Any, cache: dict | None = None) -> LmdbStore | FolderStore:
    """The store of ``dataset``: its LMDB when ``cfg.lmdb_dir`` is set, else a folder store at
    ``cfg.data_root``; shared through ``cache`` by location, so FF-family names read one LMDB."""
    lmdb_dir = getattr(cfg, "lmdb_dir", None)
    location: tuple[str, ...]
    if lmdb_dir:
        location = ("lmdb", store_path(dataset, lmdb_dir))
    else:  # per dataset folder: absolute JSON paths are re-rooted at it
        location = ("folder", str(getattr(cfg, "data_root", None) or "."), lmdb_name(dataset))
    if cache is not None and location in cache:
        return cache[location]
    store = (
        LmdbStore(location[1], dataset=lmdb_name(dataset))
        if location[0] == "lmdb"
        else FolderStore(getattr(cfg, "data_root", None), dataset=dataset)
    )
    if cache is not None:
        cache[location] = store
    return store
