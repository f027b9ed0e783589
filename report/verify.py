"""ex1 verify HANDIN.zip: whether a hand-in is what the code computes, without training for hours.

Four checks, each a line or a few in a short report:
1. the PDF (and HTML) are the files the manifest was written with, and every stored answer and run record is
   whole (the store's own checksums);
2. every number printed in each question's section is the one its stored answer holds: the section is rendered
   again from that answer with the installed package and its numbers compared with the manifest's;
3. which code files differ from the installed package's;
4. one training run, retrained for its first steps, reproduces its stored history: identically on the same
   kernels and precision, within a stated tolerance otherwise (the cheapest run by default, or the one named).
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from ex1.store import sha256_file

from .evidence import _NUMBER, MANIFEST_NAME, RESULTS, section_numbers
from .handin import HandinError, unpack

# Where kernels or precision differ, a rerun's first evaluation agrees only this well (accuracy, as a fraction;
# loss, relative): rounding differences are small after one evaluation interval, a different run is not.
ACCURACY_TOLERANCE = 0.02
LOSS_TOLERANCE = 0.05
CODE_FOLDERS = ("ex1", "experiments", "report", "tests")
CODE_SUFFIXES = (".py", ".j2", ".css")


def _project_root() -> Path:
    import Ex1_main

    return Path(Ex1_main.__file__).resolve().parent


def code_differences(unpacked: Path, root: Path | None = None) -> tuple[list[str], list[str], list[str]]:
    """(changed, only in the hand-in, only in the installed package) among the code files, by content."""
    root = root or _project_root()

    def files(base: Path) -> dict[str, str]:
        out = {}
        for name in ("Ex1_main.py",):
            if (base / name).is_file():
                out[name] = sha256_file(base / name)
        for folder in CODE_FOLDERS:
            for p in (base / folder).rglob("*") if (base / folder).is_dir() else ():
                if p.is_file() and p.suffix in CODE_SUFFIXES and "__pycache__" not in p.parts:
                    out[p.relative_to(base).as_posix()] = sha256_file(p)
        return out

    theirs, ours = files(unpacked), files(root)
    changed = sorted(k for k in theirs.keys() & ours.keys() if theirs[k] != ours[k])
    return changed, sorted(theirs.keys() - ours.keys()), sorted(ours.keys() - theirs.keys())


def _answers(results: Path, manifest: dict, problems: list[str]):
    """The hand-in's stored answers, each checked against its checksums; the context they render with."""
    import experiments
    from ex1.result import Result
    from ex1.runner import Context, get_profile
    from ex1.store import Damaged, Store

    store = Store(results / "store")
    answers = []
    order = {q: i for i, q in enumerate(experiments.QUESTIONS)}   # report order: it numbers figures and tables
    for qid, item in sorted(manifest["questions"].items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])):
        q = experiments.QUESTIONS.get(qid)
        if q is None:
            problems.append(f"{qid}: a question this version of ex1 does not know")
            continue
        try:
            entry = store._read(f"questions/{qid}", str(item.get("entry", "")))
        except Damaged as e:   # edited or damaged: nothing in it can be trusted, so nothing more is checked
            raise HandinError(f"the hand-in's stored answer to {qid} does not match its checksums ({e}): refused; "
                              "ask for the hand-in again") from None
        rec = {**entry.record, "cache_hit": True}
        answers.append(experiments.Answer(q, Result(entry.tables, rec["facts"]), rec))
    if not answers:
        return [], None
    payload = answers[0].record["key_payload"]
    ctx = Context(get_profile(payload["profile"]["name"]), store, precision=payload["precision"], log=lambda s: None)
    return answers, ctx


def _run_records(results: Path) -> dict[str, dict]:
    """Each carried run's record by its key, checked against its checksums (weights are not carried)."""
    from ex1.store import Damaged, Store

    store, runs = Store(results / "store"), {}
    for rec_path in sorted((results / "store" / "runs").glob("*/record.json")):
        key = rec_path.parent.name
        try:
            runs[key] = store._read("runs", key, without=frozenset({"arrays.npz"})).record
        except Damaged as e:
            raise HandinError(f"the hand-in's record of run {key[:12]} does not match its checksums ({e}): refused; "
                              "ask for the hand-in again") from None
    return runs


def _spec_of(record: dict):
    """The RunSpec a run record describes (None for two-digit runs, whose pair settings the record lacks)."""
    from ex1.runner import RunSpec, code_inputs
    from ex1.train import TrainConfig

    if code_inputs(record).get("pairs"):
        return None
    from ex1 import models

    def plain(v):
        return tuple(plain(x) for x in v) if isinstance(v, list) else v

    cfg = {k: plain(v) for k, v in record["config"].items()}
    # The record holds every keyword with the builder's defaults; the spec holds those set (as a question sets them).
    defaults = models.model_defaults(record["model"])
    kwargs = {k: plain(v) for k, v in record["model_kwargs"].items()
              if k not in defaults or plain(defaults[k]) != plain(v)}
    return RunSpec(record["model"], TrainConfig(**cfg), kwargs, dataset=record["dataset"],
                   per_class=record.get("per_class"), subset_seed=record.get("subset_seed", 0),
                   label=record.get("label", ""), validation=record.get("validation"),
                   fused=bool(code_inputs(record).get("fused")))


def _cheapest(runs: dict[str, dict]) -> str | None:
    """The run whose first evaluation interval trains fastest, among those that can be retrained alone."""
    from ex1.runner import code_inputs, trained_with

    def cost(r):
        steps = r["config"]["eval_every"]
        return steps * r["config"]["batch_size"] / max(r.get("images_per_second") or 1e-9, 1e-9)

    def alone(r) -> bool:   # trained by itself: a rerun alone can match it bit for bit
        try:
            return _spec_of(r) is not None and not code_inputs(r).get("fused") and trained_with(r) == 1
        except (KeyError, TypeError, ValueError):   # a model or setting this version does not know
            return False

    ok = [(cost(r), k) for k, r in runs.items() if alone(r)]
    return min(ok)[1] if ok else None


def rerun_check(results: Path, runs: dict[str, dict], which: str | None, data_dir: str | None,
                say: Callable[[str], None]) -> bool | None:
    """Retrain one run for its first evaluation interval and compare with its stored history: True when it
    reproduces it, False when not, None when it could not be checked (the reason said)."""
    import pandas as pd

    from ex1 import golden
    from ex1.data import DataError
    from ex1.runner import Context, code_inputs, get_profile, trained_with
    from ex1.train import current_history
    from ex1.store import Store

    key = _cheapest(runs) if which is None else next(
        (k for k, r in runs.items() if k.startswith(which) or r.get("label") == which), None)
    if key is None:
        say(f"  rerun: no run {'named ' + repr(which) if which else 'that can be retrained alone'} in the hand-in")
        return None
    record = runs[key]
    try:
        spec = _spec_of(record)
    except (KeyError, TypeError, ValueError) as e:
        say(f"  rerun: run {key[:12]} cannot be rebuilt by this version of ex1 ({type(e).__name__}: {e})")
        return None
    if spec is None:
        say(f"  rerun: run {key[:12]} ({record.get('label')}) is a two-digit run, which cannot be retrained here yet")
        return None
    first = min(spec.config.eval_every, spec.config.steps)
    short = replace(spec, config=replace(spec.config, steps=first, stop_when_flat=None))
    with tempfile.TemporaryDirectory(prefix="ex1-verify-run-") as tmp:
        ctx = Context(get_profile("full"), Store(Path(tmp) / "store"), data_dir=data_dir,
                      precision=spec.config.precision, log=lambda s: None)
        try:
            ds = ctx.dataset(spec.dataset)
        except DataError as e:
            say(f"  rerun: not checked, the data is not here ({str(e).split('. ')[0]}); pass --data-dir DIR")
            return None
        if ds.fingerprint != record.get("data_fingerprint"):
            say(f"  rerun: not checked, the {spec.dataset} here differs from the hand-in's (fingerprints "
                f"{ds.fingerprint[:12]} and {str(record.get('data_fingerprint'))[:12]})")
            return None
        got = ctx.train(short).history
    stored = current_history(pd.read_csv(results / "store" / "runs" / key / "tables" / "history.csv"))
    cols = ["train_loss", "train_accuracy", "heldout_loss", "heldout_accuracy"]
    a = stored[stored["step"] <= first][cols].to_numpy()
    b = got[got["step"] <= first][cols].to_numpy()
    # Bit for bit only for a run trained alone, on the same kernels: packed and fused runs agree with a lone rerun up
    # to the order of additions.
    together = trained_with(record) > 1 or bool(code_inputs(record).get("fused"))
    same_kind = record.get("kernels") == golden.kernel_kind() and not together
    what = f"run {key[:12]} ({record.get('label') or record['model']}, seed {spec.config.seed}), steps 0-{first}"
    if a.shape != b.shape:
        say(f"  rerun: {what}: the stored history has {len(a)} evaluations there, the rerun {len(b)}")
        return False
    if same_kind:
        ok = np.array_equal(a, b)
        say(f"  rerun: {what}: {'identical' if ok else 'NOT identical'} to the stored history on the same kernels "
            f"and precision ({record['kernels']}, {spec.config.precision})"
            + ("" if ok else f"; largest difference {np.abs(a - b).max():.3g}"))
        return ok
    acc = np.abs(a[:, [1, 3]] - b[:, [1, 3]]).max()
    loss = (np.abs(a[:, [0, 2]] - b[:, [0, 2]]) / np.maximum(np.abs(a[:, [0, 2]]), 1e-12)).max()
    ok = acc <= ACCURACY_TOLERANCE and loss <= LOSS_TOLERANCE
    there = record.get("kernels") or "not recorded"
    why = "trained together with others there, alone here" if together else f"{there} there, {golden.kernel_kind()} here"
    say(f"  rerun: {what}: {'within' if ok else 'OUTSIDE'} tolerance ({why}): accuracy differs by at most {acc:.4f} "
        f"(tolerance {ACCURACY_TOLERANCE}), loss by {loss:.2%} (tolerance {LOSS_TOLERANCE:.0%})")
    return ok


def _printed(path: Path) -> Counter | dict | None:
    """The numbers a report prints: per question for the HTML (its sections), all of the text for the PDF (pypdf;
    None where it is not installed)."""
    if path.suffix == ".html":
        return section_numbers(path.read_text(encoding="utf-8", errors="replace"))
    try:
        from pypdf import PdfReader
    except ImportError:
        return None
    try:
        return Counter(_NUMBER.findall("\n".join(page.extract_text() or "" for page in PdfReader(path).pages)))
    except Exception as e:  # noqa: BLE001 - whatever a damaged PDF makes the reader raise
        raise HandinError(f"the hand-in's {path.name} cannot be read as a PDF ({type(e).__name__}): refused") from None


def _check_reports(unpacked: Path, manifest: dict, rendered: dict[str, list[str]], say) -> list[str]:
    """Each report against the manifest's checksum and against the numbers its answers render: the HTML section by
    section, the PDF as a whole (each number it must print, as often)."""
    problems = []
    for name, digest in manifest["reports"].items():
        if not re.fullmatch(r"[^/\\]+\.(pdf|html)", str(name)) or name.startswith(".."):
            raise HandinError(f"the hand-in's manifest names a report {str(name)[:60]!r} outside its top folder: refused")
        path = unpacked / name
        if not path.is_file():
            problems.append(f"{name} is missing")
            say(f"  {name}: MISSING from the hand-in")
            continue
        same = sha256_file(path) == digest
        printed = _printed(path)
        if printed is None:
            check = "(its numbers not read: pip install pypdf)"
        elif not isinstance(printed, Counter):   # the HTML: section by section
            wrong = [q for q in rendered if printed.get(q) != rendered[q]]
            check = ("prints, section by section, the numbers its answers render" if not wrong else
                     f"does NOT print what the answers of {', '.join(wrong[:5])} render")
            problems += [f"{name}: numbers of {q}" for q in wrong]
        else:
            need = Counter(n for numbers in rendered.values() for n in numbers)
            short = sorted(n for n in need if printed[n] < need[n])
            check = ("prints every number its answers render" if not short else
                     f"does NOT print {len(short)} numbers its answers render (e.g. {', '.join(short[:4])})")
            problems += [f"{name}: {len(short)} numbers"] if short else []
        say(f"  {name}: {'the file written with the manifest' if same else 'CHANGED after it was written'}; {check}")
        problems += [] if same else [f"{name} changed after it was written"]
    return problems


def verify(archive: Path, data_dir: str | None = None, run: str | None = None,
           say: Callable[[str], None] = print) -> bool:
    """The short report; True when nothing was found wrong. HandinError when the file is not a hand-in."""
    import experiments

    from .build import render_html

    with tempfile.TemporaryDirectory(prefix="ex1-verify-") as tmp:
        unpacked = Path(tmp)
        manifest = unpack(archive, unpacked)
        results = unpacked / RESULTS
        problems: list[str] = []
        say(f"verify {Path(archive).name}: {len(manifest['questions'])} answers")
        # The hand-in answers every question (--zip refuses otherwise); only a report named partial may leave some out.
        left_out = [q for q in experiments.QUESTIONS if q not in manifest["questions"]]
        partial = any("_partial." in str(name) for name in manifest["reports"])
        if left_out and not partial:
            problems.append(f"the manifest leaves out {len(left_out)} questions ({', '.join(left_out[:4])})")
        elif left_out:
            say(f"  a partial report: {len(left_out)} questions left out, as its name says")
        answers, ctx = _answers(results, manifest, problems)
        runs = _run_records(results)
        say(f"  records: {len(answers)} answers and {len(runs)} run records read, checksums whole")
        rendered = section_numbers(render_html(answers, ctx)) if answers else {}
        wrong = [q for q, item in manifest["questions"].items() if rendered.get(q) != item.get("numbers")]
        printed = sum(len(v.get("numbers", [])) for v in manifest["questions"].values())
        say(f"  numbers: {printed:,} printed in the question sections; "
            + ("every one is the one its stored answer renders" if not wrong else
               f"those of {', '.join(wrong[:6])} are NOT what their stored answers render"))
        problems += [f"numbers of {q}" for q in wrong]
        problems += _check_reports(unpacked, manifest, rendered, say)
        changed, extra, missing = code_differences(unpacked)
        code = "; ".join(s for s in (
            f"{len(changed)} files differ ({', '.join(changed[:6])}{', ...' if len(changed) > 6 else ''})" if changed
            else "", f"{len(extra)} only in the hand-in ({', '.join(extra[:4])})" if extra else "",
            f"{len(missing)} missing from it ({', '.join(missing[:4])})" if missing else "") if s)
        say("  code: " + (code or "the same as the installed package's"))
        rerun = rerun_check(results, runs, run, data_dir, say)
        problems += ["the rerun"] if rerun is False else []
        note = f"; note: the code differs from the installed package's ({code})" if code else ""
        say("verdict: " + ("nothing found wrong" if not problems else
                           f"{len(problems)} problems: " + "; ".join(problems[:5])) + note)
        return not problems


__all__ = ["HandinError", "MANIFEST_NAME", "code_differences", "rerun_check", "verify"]
