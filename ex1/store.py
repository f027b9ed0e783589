"""The results store: entries keyed by a hash of their config, written atomically, verified on read."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FORMAT = 1  # bump when the layout of an entry changes; older entries then read as missing


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


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_table(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:  # a table with no columns is written as an empty line
        return pd.DataFrame()


@dataclass
class Entry:
    """What the store holds for one key: tables, arrays and a JSON record."""

    tables: dict[str, pd.DataFrame]
    record: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


class StoreError(RuntimeError):
    """The store cannot be written (permissions, disk full): nothing half-written is left."""


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

    def load(self, kind: str, key: str) -> Entry | None:
        """The entry, or None when it is missing; a damaged entry is removed and reads as missing."""
        d = self.path(kind, key)
        if not d.is_dir():
            return None
        try:
            record = json.loads((d / "record.json").read_text())
            if record.get("format") != FORMAT or record.get("key") != key:
                raise ValueError("format or key mismatch")
            for rel, digest in record["files"].items():
                if _sha256_file(d / rel) != digest:
                    raise ValueError(f"checksum mismatch in {rel}")
            tables = {name: _read_table(d / "tables" / f"{name}.csv") for name in record["tables"]}
            arrays = {}
            if (d / "arrays.npz").exists():
                with np.load(d / "arrays.npz", allow_pickle=False) as f:
                    arrays = {k: f[k] for k in f.files}
        except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError, pd.errors.ParserError) as e:
            self.discard(kind, key, reason=str(e))
            return None
        return Entry(tables=tables, record=record["record"], arrays=arrays)

    def discard(self, kind: str, key: str, reason: str = "") -> None:
        d = self.path(kind, key)
        if d.exists():
            self.damaged.append((f"{kind}/{key[:12]}", reason))
            shutil.rmtree(d, ignore_errors=True)

    def save(self, kind: str, key: str, tables: dict[str, pd.DataFrame], record: dict[str, Any],
             arrays: dict[str, np.ndarray] | None = None) -> Entry:
        final = self.path(kind, key)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{key[:12]}.", suffix=".tmp", dir=final.parent))
        except OSError as e:
            raise StoreError(f"cannot write the results store at {self.root}: {e.strerror or e}. "
                             "Choose a writable output directory with --out DIR.") from e
        try:
            (tmp / "tables").mkdir()
            files = {}
            for name, df in tables.items():
                rel = f"tables/{name}.csv"
                df.to_csv(tmp / rel, index=False)
                files[rel] = _sha256_file(tmp / rel)
            if arrays:
                with open(tmp / "arrays.npz", "wb") as f:
                    np.savez(f, **arrays)
                files["arrays.npz"] = _sha256_file(tmp / "arrays.npz")
            doc = {"format": FORMAT, "key": key, "tables": list(tables), "files": files, "record": record}
            (tmp / "record.json").write_text(json.dumps(doc, indent=1, sort_keys=True, default=_json_default))
            for p in tmp.rglob("*"):
                if p.is_file():
                    with open(p, "rb") as f:
                        os.fsync(f.fileno())
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise StoreError(f"could not write a result to {final}: {e.strerror or e}; nothing was kept. "
                             "Free disk space or choose another --out DIR, then run again: "
                             "finished results are reused.") from e
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return self.load(kind, key) or Entry(tables=tables, record=record, arrays=arrays or {})

    def clean_temporaries(self) -> None:
        """Remove the debris of runs killed while writing (temporary directories)."""
        if self.root.is_dir():
            for p in self.root.glob("*/.*.tmp"):
                shutil.rmtree(p, ignore_errors=True)
