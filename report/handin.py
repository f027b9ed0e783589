"""Opening a hand-in ZIP safely: every entry checked before anything is written, and everything written inside
one temporary folder. A ZIP that is not a hand-in, truncated or damaged, or holds entries with '..' or absolute
paths, links or oversized files is refused in one line (HandinError)."""

from __future__ import annotations

import json
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .evidence import MANIFEST_NAME, RESULTS

MAX_ENTRIES = 20_000
MAX_ENTRY_BYTES = 256 * 2**20    # a full-profile PDF is about 5 MiB; a run's table a few KiB
MAX_TOTAL_BYTES = 1024 * 2**20


class HandinError(ValueError):
    """Why a file is not a hand-in that can be checked: one line."""


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or path.is_absolute():
        raise HandinError(f"the archive holds an entry with an absolute path ({name[:80]!r}): refused")
    if ".." in path.parts:
        raise HandinError(f"the archive holds an entry that climbs out of its folder ({name[:80]!r}): refused")
    if any(ord(c) < 32 for c in name):
        raise HandinError(f"the archive holds an entry whose name has control characters ({name[:80]!r}): refused")
    return path


def _check_entries(infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > MAX_ENTRIES:
        raise HandinError(f"the archive holds {len(infos):,} entries, more than a hand-in's {MAX_ENTRIES:,}: refused")
    total = 0
    for info in infos:
        _safe_name(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise HandinError(f"the archive holds a link ({info.filename[:80]!r}): refused")
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):   # 0: written without a file type
            raise HandinError(f"the archive holds an entry that is not a file ({info.filename[:80]!r}): refused")
        if info.file_size > MAX_ENTRY_BYTES:
            raise HandinError(f"the archive's entry {info.filename[:80]!r} unpacks to {info.file_size / 2**20:,.0f} "
                              f"MiB, more than {MAX_ENTRY_BYTES // 2**20} MiB: refused")
        total += info.file_size
    names = {PurePosixPath(i.filename.replace("\\", "/")).as_posix() for i in infos if not i.is_dir()}
    clash = next((n for n in names for parent in PurePosixPath(n).parents if parent.as_posix() in names), None)
    if clash:
        raise HandinError(f"the archive holds {clash[:80]!r} under a name that is also a file: refused")
    if total > MAX_TOTAL_BYTES:
        raise HandinError(f"the archive unpacks to {total / 2**20:,.0f} MiB, more than {MAX_TOTAL_BYTES // 2**20} MiB: "
                          "refused")


def unpack(archive: Path, dest: Path) -> dict:
    """Check every entry of archive, then write its files under dest (an empty temporary folder); the manifest.

    Sizes are enforced while reading too: an entry's declared size may lie."""
    archive = Path(archive)
    if not archive.is_file():
        raise HandinError(f"{archive} is not a file: name the hand-in ZIP (Ex1_<names>.zip)")
    try:
        with zipfile.ZipFile(archive) as z:
            infos = z.infolist()
            _check_entries(infos)
            names = {PurePosixPath(i.filename.replace("\\", "/")).as_posix() for i in infos}
            if MANIFEST_NAME not in names or not any(n.startswith(f"{RESULTS}/store/") for n in names):
                raise HandinError(f"{archive.name} is not an ex1 hand-in with its evidence (no {MANIFEST_NAME} and "
                                  f"{RESULTS}/ folder): make it with ex1 --all --names ... --zip")
            dest = Path(dest).resolve()
            for info in infos:
                if info.is_dir():
                    continue
                target = dest.joinpath(*_safe_name(info.filename).parts)
                if dest not in target.resolve().parents:
                    raise HandinError(f"the archive's entry {info.filename[:80]!r} lands outside its folder: refused")
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(target, "wb") as out:
                    written = 0
                    while block := src.read(1 << 20):
                        written += len(block)
                        if written > MAX_ENTRY_BYTES:
                            raise HandinError(f"the archive's entry {info.filename[:80]!r} unpacks to more than "
                                              f"{MAX_ENTRY_BYTES // 2**20} MiB: refused")
                        out.write(block)
    except zipfile.BadZipFile as e:
        raise HandinError(f"{archive.name} is not a readable ZIP archive ({e}): it may be truncated or damaged; "
                          "ask for the file again") from None
    except (EOFError, zipfile.LargeZipFile, NotImplementedError, zlib.error, RuntimeError, OSError) as e:
        # a damaged deflate stream, an encrypted entry, a name that is a file and a folder prefix at once
        raise HandinError(f"{archive.name} cannot be read ({type(e).__name__}: {e}): it may be truncated or "
                          "damaged") from None
    try:
        doc = json.loads((dest / MANIFEST_NAME).read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or not isinstance(doc.get("questions"), dict) \
                or not isinstance(doc.get("reports"), dict):
            raise ValueError("not a manifest")
    except (OSError, ValueError) as e:
        raise HandinError(f"the hand-in's {MANIFEST_NAME} is not a manifest ({e}): refused") from None
    return doc
