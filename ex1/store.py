"""The results store: entries keyed by a hash of their config, written atomically, verified on read.

Safe for several processes on one folder: each key has a lock (held while an entry is written,
removed or computed), every writer assembles its entry under a temporary name of its own, and
a damaged entry is removed only after it is checked again under its lock.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from .fsutil import WriteError, clean_dead_temporaries, read_regular, remove, temp_path, write_error

FORMAT = 2  # bump when the layout of an entry changes; older entries then read as missing (but READABLE's)
# Entries of format 1 lack the record's own checksum and are read as they are: it was added (format 2) so that
# a change inside record.json that keeps it valid JSON (a flipped byte in a value) is found, as fuzzing showed.
READABLE = (1, 2)
SUBFOLDERS = ("runs", "questions", "checkpoints", "locks")


def config_hash(payload: dict) -> str:
    """sha256 of the canonical JSON of a config (sorted keys, tuples as lists)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (tuple, set)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable in a config: {type(o).__name__}")


def _record_digest(record) -> str:
    """sha256 of a record as JSON reads it back (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_ENTRY_FILE = re.compile(r"arrays\.npz|tables/(?!\.\.)[^/\\]+\.csv")   # the files save() writes, none outside


def _read_table(source) -> pd.DataFrame:
    try:
        return pd.read_csv(source)
    except pd.errors.EmptyDataError:  # a table with no columns is written as an empty line
        return pd.DataFrame()


@dataclass
class Entry:
    """What the store holds for one key: tables, arrays and a JSON record."""

    tables: dict[str, pd.DataFrame]
    record: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


class StoreError(WriteError):
    """The store cannot be written (permissions, disk full, a file where a folder belongs)."""


class Damaged(ValueError):
    """An entry that is not whole and checked: it is removed and recomputed, never used."""


# One lock object per lock file and process: filelock's objects count re-entries, while two objects
# on one file in one process would wait for each other.
_LOCKS: dict[str, Any] = {}


def _lock_for(path: Path):
    from filelock import FileLock

    k = str(path.resolve())
    if k not in _LOCKS:
        _LOCKS[k] = FileLock(k)
    return _LOCKS[k]


class Store:
    """A directory of entries: <root>/<kind>/<key>/{record.json, tables/*.csv, arrays.npz}.

    An entry is complete only when its record.json lists every file with its sha256; the
    directory is assembled under a temporary name and renamed into place in one step.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.damaged: list[tuple[str, str]] = []  # entries found damaged and discarded, for the report

    def path(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    # ------------------------------------------------------------------ checks and locks

    def check(self) -> None:
        """Fail at once, in one line, when the store cannot be used (before hours of training)."""
        for p in (self.root, *(self.root / s for s in SUBFOLDERS)):
            if p.exists() and not p.is_dir():
                raise StoreError(f"cannot use the results store: {p} is a file, where the store keeps a folder. "
                                 "Move that file away or choose another --out DIR.")
        try:
            (self.root / "locks").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the results store at {self.root}: {e.strerror or e}. "
                             "Choose a writable output directory with --out DIR.") from e

    @contextmanager
    def lock(self, kind: str, key: str, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the lock of one entry: another process computing or writing it holds it first."""
        from filelock import Timeout

        directory = self.root / "locks"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            lk = _lock_for(directory / f"{kind.replace('/', '~')}~{key}.lock")
            try:
                lk.acquire(timeout=0)
            except Timeout:
                if on_wait:
                    on_wait()
                lk.acquire()
        except OSError as e:
            raise write_error("a lock of the results store", directory, e) from e
        try:
            yield
        finally:
            lk.release()

    # ------------------------------------------------------------------ reading

    def _read(self, kind: str, key: str, without: frozenset[str] = frozenset()) -> Entry:
        """The entry, checked against its checksums; Damaged if it is not whole. Files named in `without` are
        neither read nor required (a hand-in carries run records without their weights)."""
        d = self.path(kind, key)
        if not d.is_dir():
            raise Damaged("not a folder")
        try:
            record = json.loads(read_regular(d / "record.json").decode("utf-8"))
            if not isinstance(record, dict) or not isinstance(record.get("files"), dict) \
                    or not isinstance(record.get("tables"), list) or not isinstance(record.get("record"), dict):
                raise Damaged("record.json is not a store record")
            if record.get("format") not in READABLE or record.get("key") != key:
                raise Damaged("format or key mismatch")
            if (record.get("format") != 1 or "record_sha256" in record) \
                    and record.get("record_sha256") != _record_digest(record["record"]):
                raise Damaged("checksum mismatch in record.json")
            # Each file is read once and parsed from the bytes whose checksum was verified: an entry
            # replaced by another process mid-read then fails its check instead of mixing two versions.
            blobs = {}
            for rel, digest in record["files"].items():
                if not _ENTRY_FILE.fullmatch(str(rel)):
                    raise Damaged(f"record.json names a file the store does not write: {str(rel)[:60]!r}")
                if rel in without:
                    continue
                blobs[rel] = read_regular(d / rel)
                if hashlib.sha256(blobs[rel]).hexdigest() != digest:
                    raise Damaged(f"checksum mismatch in {rel}")
            tables = {name: _read_table(io.BytesIO(blobs[f"tables/{name}.csv"])) for name in record["tables"]}
            arrays = {}
            if "arrays.npz" in blobs:
                with np.load(io.BytesIO(blobs["arrays.npz"]), allow_pickle=False) as f:
                    arrays = {k: f[k] for k in f.files}
        except Damaged:
            raise
        except Exception as e:  # whatever bytes on disk make the JSON, CSV or zip readers raise: not whole
            raise Damaged((str(e).strip().splitlines() or [type(e).__name__])[0][:200]) from e
        return Entry(tables=tables, record=record["record"], arrays=arrays)

    def load(self, kind: str, key: str) -> Entry | None:
        """The entry, or None when it is missing; a damaged entry is removed and reads as missing."""
        d = self.path(kind, key)
        if not (d.exists() or d.is_symlink()):
            return None
        try:
            return self._read(kind, key)
        except Damaged as e:
            return self._discard_if_damaged(kind, key, str(e))

    def _discard_if_damaged(self, kind: str, key: str, reason: str) -> Entry | None:
        """Check again under the lock: what looked damaged may have been an entry being replaced."""
        with self.lock(kind, key):
            d = self.path(kind, key)
            if not (d.exists() or d.is_symlink()):
                return None
            try:
                return self._read(kind, key)
            except Damaged as e:
                reason = str(e) or reason
            self._remove(kind, key)
            self.damaged.append((f"{kind}/{key[:12]}", reason))
            return None

    def discard(self, kind: str, key: str, reason: str = "") -> None:
        """Remove an entry (damaged, or to be recomputed)."""
        with self.lock(kind, key):
            if self._remove(kind, key) and reason:
                self.damaged.append((f"{kind}/{key[:12]}", reason))

    def _remove(self, kind: str, key: str) -> bool:
        """Rename the entry aside (one atomic step for readers), then delete it. Call under the lock."""
        d = self.path(kind, key)
        if not (d.exists() or d.is_symlink()):
            return False
        aside = temp_path(d.parent, f"{key[:12]}.old")
        try:
            os.replace(d, aside)
        except OSError as e:
            raise write_error("(removing) a damaged entry", d, e) from e
        remove(aside)
        return True

    # ------------------------------------------------------------------ writing

    def save(self, kind: str, key: str, tables: dict[str, pd.DataFrame], record: dict[str, Any],
             arrays: dict[str, np.ndarray] | None = None) -> Entry:
        final = self.path(kind, key)
        with self.lock(kind, key):
            try:
                final.parent.mkdir(parents=True, exist_ok=True)
                tmp = temp_path(final.parent, key[:12])
                tmp.mkdir()
            except OSError as e:
                raise StoreError(f"cannot write the results store at {self.root}: {e.strerror or e}. "
                                 "Choose a writable output directory with --out DIR.") from e
            try:
                (tmp / "tables").mkdir()
                files = {}
                for name, df in tables.items():
                    rel = f"tables/{name}.csv"
                    df.to_csv(tmp / rel, index=False)
                    files[rel] = sha256_file(tmp / rel)
                if arrays:
                    with open(tmp / "arrays.npz", "wb") as f:
                        np.savez(f, **arrays)
                    files["arrays.npz"] = sha256_file(tmp / "arrays.npz")
                doc = {"format": FORMAT, "key": key, "tables": list(tables), "files": files, "record": record,
                       "record_sha256": _record_digest(json.loads(json.dumps(record, default=_json_default)))}
                (tmp / "record.json").write_text(json.dumps(doc, indent=1, sort_keys=True, default=_json_default))
                for p in tmp.rglob("*"):
                    if p.is_file():
                        with open(p, "rb") as f:
                            os.fsync(f.fileno())
                # Readers never see a half entry: the old one is renamed aside and the new one renamed in,
                # both under this key's lock, which a reader that finds no entry waits for.
                self._remove(kind, key)
                os.replace(tmp, final)
            except OSError as e:
                remove(tmp)
                raise StoreError(str(write_error("a result", final, e))) from e
            except BaseException:
                remove(tmp)
                raise
            try:
                return self._read(kind, key)
            except Damaged:
                return Entry(tables=tables, record=record, arrays=arrays or {})

    def clean_temporaries(self) -> list[Path]:
        """Remove the debris of processes killed while writing; a live process's temporaries stay."""
        return clean_dead_temporaries(self.root)
