"""What a hand-in carries besides the code and the PDF, so that a TA can check it without training for hours:
the stored answers (tables and records), the records and histories of their training runs (no weights), the
tables, and a manifest that traces every number printed in each question's section to the stored answer it
was rendered from (`ex1 verify` renders the section again from that answer and compares)."""

from __future__ import annotations

import html as html_mod
import json
import re
from pathlib import Path

from ex1.fsutil import write_atomically
from ex1.store import config_hash, sha256_file

MANIFEST_FORMAT = 1
MANIFEST_NAME = "manifest.json"   # its name in the hand-in
RESULTS = "results"     # the hand-in's results folder: `ex1 --all --out results` reads every answer from it

_SECTION = re.compile(r'<section class="question" id="q-([^"]+)"')
_NOT_TEXT = re.compile(r"<(svg|style|script|math)\b.*?</\1>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")
# A number as the report prints it: 98.40, 1,234, 3e-05; a minus sign (−) is printed apart and not needed here.
_NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?", re.I)


def section_numbers(html: str) -> dict[str, list[str]]:
    """Every number printed in the text and tables of each question's section, in order ('huji.1.2' -> [...]).
    Figures and formulas are left out: they are drawn, not printed as text, in the PDF."""
    starts = [(m.start(), m.group(1)) for m in _SECTION.finditer(html)]
    end_all = html.find('<section class="appendix"')
    out = {}
    for i, (start, anchor) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else (end_all if end_all > start else len(html))
        text = html_mod.unescape(_TAG.sub(" ", _NOT_TEXT.sub(" ", html[start:end])))
        out[anchor.replace("-", ".")] = _NUMBER.findall(text)
    return out


def entry_key(answer) -> str:
    """The store key of an answer: the hash of its key payload, as the registry stored it."""
    return config_hash(answer.record["key_payload"])


def manifest(answers, html: str, reports: list[Path]) -> dict:
    numbers = section_numbers(html)
    return {
        "format": MANIFEST_FORMAT,
        "reports": {p.name: sha256_file(p) for p in reports},
        "questions": {a.question.id: {"entry": entry_key(a), "profile": a.record["key_payload"]["profile"]["name"],
                                      "numbers": numbers.get(a.question.id, [])} for a in answers},
    }


def write_manifest(answers, html: str, reports: list[Path], path: Path) -> Path:
    doc = json.dumps(manifest(answers, html, reports), indent=1, sort_keys=True)
    return write_atomically(Path(path), lambda tmp: tmp.write_text(doc), "the manifest")


def _entry_files(folder: Path, arc: str, weights: bool = False) -> list[tuple[Path, str]]:
    files = [(folder / "record.json", f"{arc}/record.json")]
    files += [(p, f"{arc}/tables/{p.name}") for p in sorted((folder / "tables").glob("*.csv"))]
    if weights and (folder / "arrays.npz").is_file():
        files.append((folder / "arrays.npz", f"{arc}/arrays.npz"))
    return files


def run_folders(store_root: Path) -> dict[tuple[str, str], Path]:
    """Each stored run's folder by (identity, code version): what an answer's run summary names it by."""
    from ex1 import codehash

    found = {}
    for rec in (Path(store_root) / "runs").glob("*/record.json"):
        try:
            r = json.loads(rec.read_text())["record"]
            found[(r["identity"], codehash.combined(r["code_deps"]))] = rec.parent
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def evidence_files(answers, store_root: Path, tables_root: Path | None) -> list[tuple[Path, str]]:
    """(file, name in the archive) for the answers' store entries, their runs' records and histories (not their
    weights or checkpoints) and the tables: laid out as a results folder under RESULTS."""
    from ex1 import codehash

    store_root = Path(store_root)
    files: list[tuple[Path, str]] = []
    runs = run_folders(store_root)
    wanted: dict[Path, None] = {}
    for a in answers:
        key = entry_key(a)
        folder = store_root / "questions" / a.question.id / key
        files += _entry_files(folder, f"{RESULTS}/store/questions/{a.question.id}/{key}")
        for r in a.record.get("runs", []):
            if "identity" in r and "code_deps" in r:
                hit = runs.get((r["identity"], codehash.combined(r["code_deps"])))
                if hit is not None:
                    wanted[hit] = None
    for folder in wanted:
        files += _entry_files(folder, f"{RESULTS}/store/runs/{folder.name}")
    if tables_root is not None and Path(tables_root).is_dir():
        base = Path(tables_root).parent
        files += [(p, f"{RESULTS}/tables/{p.relative_to(base).as_posix()}")
                  for p in sorted(Path(tables_root).rglob("*.csv"))]
    return files
