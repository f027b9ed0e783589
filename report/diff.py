"""ex1 diff A B: every reported number that differs between two results folders, each judged against its own
noise, and why their training runs differ (code, data, precision, kernels, settings).

A results folder is an --out folder, an unpacked hand-in (its results/ folder) or a folder of tables alone
(docs/, which holds tables/<profile>/). Two answers to a question are compared cell by cell when their tables
have the same shape (same protocol); otherwise the question is "not comparable" and the reason is given.

Noise, as the report measures it: an accuracy measured on n images has the binomial standard error
sqrt(p (1 - p) / n); a mean over seeds printed with its standard deviation has std / sqrt(seeds); images counted
in a confusion-matrix cell or a pattern of right and wrong are binomial counts out of their total. A difference
beyond 1.96 standard errors of the difference is "beyond noise". Other counts (parameters, steps, images in a
set) are exact: any difference is beyond noise. Timings always differ between runs and are counted apart; losses,
means printed without their spread and other quantities with no noise estimate are "not judged".
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .evidence import RESULTS, run_folders

Z = 1.96
_TIMING = re.compile(r"(seconds|wall|_s$|^s$|per_second|ips|img|time)", re.I)
_RATE = re.compile(r"(accuracy|error|_acc\b|^test_mean$|^train_mean$|^validation_(mean|min)$)", re.I)
_LIST = 12   # differences listed per table unless every one is asked for


class DiffError(ValueError):
    """Why two folders cannot be compared: one line."""


@dataclass
class Answer:
    qid: str
    profile: str
    tables: dict[str, pd.DataFrame]
    record: dict | None = None   # None for a folder of tables alone

    @property
    def precision(self) -> str:
        return self.record["key_payload"]["precision"] if self.record else "?"


@dataclass
class Side:
    root: Path
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    runs: dict = field(default_factory=dict)    # (identity, code) -> run record

    def describe(self) -> str:
        every = [a for v in self.answers.values() for a in v]
        profiles = sorted({a.profile for a in every})
        precisions = sorted({a.precision for a in every} - {"?"})
        n = len(self.answers)
        return (f"{self.root} ({n} question{'s' if n != 1 else ''}; {', '.join(profiles)} profile"
                + (f", {', '.join(precisions)}" if precisions else "") + ")")


def results_root(path: str | Path) -> Path:
    p = Path(path)
    for cand in (p, p / RESULTS):
        if (cand / "store" / "questions").is_dir() or (cand / "tables").is_dir():
            return cand
    raise DiffError(f"{path} is not a results folder (no store/ or tables/ in it, nor in {RESULTS}/): name an --out "
                    "folder, an unpacked hand-in, or a folder holding tables/<profile>/")


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for p in sorted(folder.glob("*.csv")):
        try:
            out[p.stem] = pd.read_csv(p)
            out[p.stem].attrs["name"] = p.stem
        except (pd.errors.EmptyDataError, pd.errors.ParserError, OSError, UnicodeDecodeError):
            continue
    return out


def load(path: str | Path) -> Side:
    """A folder's answers: the stored ones (newest first per question) or, without a store, its tables."""
    root = results_root(path)
    side = Side(root)
    for rec_path in sorted((root / "store" / "questions").glob("*/*/record.json"),
                           key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            record = json.loads(rec_path.read_text())["record"]
            profile = record["key_payload"]["profile"]["name"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        side.answers.setdefault(record.get("question", rec_path.parent.parent.name), []).append(
            Answer(rec_path.parent.parent.name, profile, _tables(rec_path.parent / "tables"), record))
    if not side.answers:
        for folder in sorted((root / "tables").glob("*/*")):
            if folder.is_dir():
                side.answers.setdefault(folder.name, []).append(Answer(folder.name, folder.parent.name,
                                                                       _tables(folder)))
    if (root / "store" / "runs").is_dir():
        for folder in run_folders(root / "store").values():
            try:
                r = json.loads((folder / "record.json").read_text())["record"]
                side.runs[(r["identity"], json.dumps(r["code_deps"], sort_keys=True))] = r
            except (OSError, ValueError, KeyError, TypeError):
                continue
    return side


def pair(a: list[Answer], b: list[Answer]) -> tuple[Answer, Answer]:
    """The two answers to compare: the newest of one profile held by both, else the newest of each."""
    for x in a:
        for y in b:
            if x.profile == y.profile:
                return x, y
    return a[0], b[0]


# ------------------------------------------------------------------ noise


def _examples(ans: Answer, column: str) -> int | None:
    """How many images a rate in `column` was measured on, as far as the answer's record says."""
    if ans.record is None:
        return None
    prof = ans.record["key_payload"]["profile"]
    runs = ans.record.get("runs", [])
    data = ans.record.get("datasets") or {}
    facts = ans.record.get("facts") or {}
    if "validation" in column.lower():
        vals = [r.get("validation") for r in runs if r.get("validation")]
        return int(vals[0]) if vals else None
    if column.lower().startswith("train"):
        return prof.get("train_eval_size") or next((int(r["train_examples"]) for r in runs), None)
    if isinstance(facts.get("test_examples"), (int, float)):
        return int(facts["test_examples"])
    if prof.get("test_size"):
        return int(prof["test_size"])
    tests = [d.get("test") for d in data.values() if isinstance(d, dict) and d.get("test")]
    return int(tests[-1]) if tests else 10000


def judge(ans_a: Answer, ans_b: Answer, table_a: pd.DataFrame, table_b: pd.DataFrame, row: int, col: str
          ) -> tuple[str, float | None]:
    """('beyond noise' | 'within noise' | 'timing' | 'not judged', the noise of the difference or None)."""
    va, vb = float(table_a[col].iloc[row]), float(table_b[col].iloc[row])
    if _TIMING.search(col):
        return "timing", None
    std_col = re.sub(r"_(mean|min)$", "_std", col)
    n_col = next((c for c in ("n", "seeds") if c in table_a.columns), None)
    if std_col != col and std_col in table_a.columns and n_col:
        sa, sb = float(table_a[std_col].iloc[row]), float(table_b[std_col].iloc[row])
        na, nb = float(table_a[n_col].iloc[row]), float(table_b[n_col].iloc[row])
        if sa > 0 or sb > 0:
            se = math.sqrt(sa ** 2 / max(na, 1) + sb ** 2 / max(nb, 1))
            return ("beyond noise" if abs(va - vb) > Z * se else "within noise"), Z * se
    if col.endswith("_mean"):
        return "not judged", None   # a mean over seeds printed without its spread: no noise to judge it by
    if _RATE.search(col) and not re.search(r"abs|relative", col) and 0 <= va <= 1 and 0 <= vb <= 1:
        # a rate per row over that row's images or pairs (per class, per split), else over the images the answer
        # measured on
        own = next((c for c in ("images", "pairs", "test_images") if c in table_a.columns), None)
        n = int(table_a[own].iloc[row]) if own else _examples(ans_a, col) or _examples(ans_b, col)
        if n:
            se = math.sqrt(va * (1 - va) / n + vb * (1 - vb) / n) or 1 / n
            return ("beyond noise" if abs(va - vb) > Z * se else "within noise"), Z * se
        return "not judged", None
    confusion = table_a.attrs.get("name") == "confusion"
    outcome = col == "confused_count" or (col == "pairs" and table_a.attrs.get("name") == "patterns")
    if (confusion or outcome) and float(va).is_integer() and float(vb).is_integer():
        # images counted in one cell of a confusion matrix (out of its row: the class's images) or in one class or
        # pattern (out of the column's total): a binomial count
        if confusion:
            ints = [c for c in table_a.columns if pd.api.types.is_integer_dtype(table_a[c])]
            na, nb = float(table_a[ints].iloc[row].sum()), float(table_b[ints].iloc[row].sum())
        else:
            na, nb = float(table_a[col].sum()), float(table_b[col].sum())
        if na > 0 and nb > 0:
            pa, pb = va / na, vb / nb
            se = math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb) * max(na, nb)
            return ("beyond noise" if abs(va - vb) > Z * se else "within noise"), Z * se
    if float(va).is_integer() and float(vb).is_integer() and not _RATE.search(col) and "loss" not in col:
        return "beyond noise", 0.0   # a count: exact
    return "not judged", None


# ------------------------------------------------------------------ comparing


@dataclass
class Difference:
    qid: str
    table: str
    where: str
    column: str
    a: float
    b: float
    verdict: str
    noise: float | None

    def line(self) -> str:
        noise = "" if self.noise is None else (" exact" if self.noise == 0 else f" noise ±{self.noise:.3g}")
        return (f"{self.table}.csv {self.column} [{self.where}]: {self.a:.6g} vs {self.b:.6g} "
                f"(Δ {self.b - self.a:+.3g},{noise}) {self.verdict}").replace(",)", ")")


def protocol(a: Answer, b: Answer) -> str:
    """Why two answers are not comparable ('' when they are): a different profile or question settings."""
    import experiments

    q = experiments.QUESTIONS.get(a.qid)
    if a.profile != b.profile and not (q is not None and not q.datasets):   # theory: no profile changes it
        return f"different protocol: the {a.profile} and {b.profile} profiles"
    if a.record and b.record:
        ca, cb = (_settings(x.record["key_payload"].get("config")) for x in (a, b))
        if ca != cb:
            keys = sorted(k for k in set(ca or {}) | set(cb or {}) if (ca or {}).get(k) != (cb or {}).get(k)) \
                if isinstance(ca, dict) and isinstance(cb, dict) else ["its settings"]
            return f"different protocol: {', '.join(map(str, keys[:4]))} differ"
    return ""


def _settings(config):
    """A question's settings without the precision its runs train in: the same protocol in float32 and bfloat16."""
    if isinstance(config, dict):
        return {k: _settings(v) for k, v in config.items() if k != "precision"}
    if isinstance(config, list):
        return [_settings(v) for v in config]
    return config


def _row_name(t: pd.DataFrame, row: int) -> str:
    named = [str(t[c].iloc[row]) for c in t.columns
             if not pd.api.types.is_numeric_dtype(t[c]) or pd.api.types.is_bool_dtype(t[c])][:2]
    for c in ("step", "seed"):
        if c in t.columns:
            named.append(f"{c} {t[c].iloc[row]}")
    return ", ".join(named) or f"row {row + 1}"


def _same_names(ta: pd.DataFrame, tb: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables of answers from before 2026-12-03 name history columns test_* where later ones say heldout_*: read
    the old name as the new one where the other side has only the new one (a test_* column can be genuine)."""
    from ex1.train import LEGACY_HISTORY_NAMES

    def renamed(t, other):
        m = {o: n for o, n in LEGACY_HISTORY_NAMES.items() if o in t.columns and n in other.columns
             and n not in t.columns and o not in other.columns}
        return t.rename(columns=m) if m else t

    out_a, out_b = renamed(ta, tb), renamed(tb, ta)
    out_a.attrs, out_b.attrs = ta.attrs, tb.attrs
    return out_a, out_b


def compare(qid: str, a: Answer, b: Answer) -> tuple[list[Difference], list[str]]:
    """Every differing number of the tables both answers hold, judged; and what could not be compared."""
    diffs, skipped = [], []
    for name in sorted(set(a.tables) | set(b.tables)):
        ta, tb = a.tables.get(name), b.tables.get(name)
        if ta is None or tb is None:
            skipped.append(f"{name}.csv only in {'B' if ta is None else 'A'}")
            continue
        ta, tb = _same_names(ta, tb)
        if ta.shape != tb.shape:
            skipped.append(f"{name}.csv has another shape ({ta.shape[0]}x{ta.shape[1]} and {tb.shape[0]}x{tb.shape[1]})")
            continue
        if list(ta.columns) != list(tb.columns):
            only = sorted(set(ta.columns) ^ set(tb.columns))
            skipped.append(f"{name}.csv has other columns ({', '.join(only) or 'in another order'})")
            continue
        for col in ta.columns:
            if not (pd.api.types.is_numeric_dtype(ta[col]) and pd.api.types.is_numeric_dtype(tb[col])) \
                    or pd.api.types.is_bool_dtype(ta[col]):
                continue
            xa, xb = ta[col].to_numpy(float), tb[col].to_numpy(float)
            differ = ~(np.isclose(xa, xb, rtol=1e-9, atol=0) | (np.isnan(xa) & np.isnan(xb)))
            for row in np.flatnonzero(differ):
                if np.isnan(xa[row]) or np.isnan(xb[row]):
                    diffs.append(Difference(qid, name, _row_name(ta, row), col, xa[row], xb[row], "not judged", None))
                    continue
                verdict, noise = judge(a, b, ta, tb, row, col)
                diffs.append(Difference(qid, name, _row_name(ta, row), col, xa[row], xb[row], verdict, noise))
    return diffs, skipped


def run_reasons(sa: Side, sb: Side, qid: str, a: Answer, b: Answer) -> dict[str, int]:
    """Why the question's runs in A and B have different keys, counted: each run matched by its label and seed."""
    from ex1 import codehash

    if not (a.record and b.record):
        return {}
    def by_role(ans):
        return {(r.get("label"), r.get("config", {}).get("seed")): r for r in ans.record.get("runs", [])}
    ra, rb = by_role(a), by_role(b)
    reasons: dict[str, int] = {}
    for role in ra.keys() | rb.keys():
        x, y = ra.get(role), rb.get(role)
        if x is None or y is None:
            why = [f"only in {'A' if y is None else 'B'}"]
        else:
            why = []
            cx, cy = dict(x.get("config", {})), dict(y.get("config", {}))
            if cx.get("precision") != cy.get("precision"):
                why.append(f"precision ({cx.get('precision')} and {cy.get('precision')})")
            other = sorted(k for k in cx.keys() | cy.keys() if k != "precision" and cx.get(k) != cy.get(k))
            if other or x.get("model_kwargs") != y.get("model_kwargs"):
                why.append("settings (" + ", ".join(other or ["the model"]) + ")")
            changed = codehash.changed(x.get("code_deps") or {}, y.get("code_deps") or {})
            if changed:
                why.append("code (" + ", ".join(changed[:3]) + ")")
            fx = sa.runs.get((x.get("identity"), json.dumps(x.get("code_deps"), sort_keys=True)), {})
            fy = sb.runs.get((y.get("identity"), json.dumps(y.get("code_deps"), sort_keys=True)), {})
            if fx.get("data_fingerprint") != fy.get("data_fingerprint") and fx and fy:
                why.append("data")
            if fx.get("kernels") != fy.get("kernels") and fx.get("kernels") and fy.get("kernels"):
                why.append(f"kernels ({fx['kernels']} and {fy['kernels']})")
            if not why and x.get("identity") != y.get("identity"):
                why.append("libraries or kernels (not recorded)")
            why = why or ["same key"]
        for w in why:
            reasons[w] = reasons.get(w, 0) + 1
    return reasons


# ------------------------------------------------------------------ the report


def diff(path_a: str | Path, path_b: str | Path, markdown: str | Path | None = None, every: bool = False,
         say=print) -> dict:
    """Print the comparison (and write it as Markdown); the counts of each verdict."""
    sa, sb = load(path_a), load(path_b)
    for side, path in ((sa, path_a), (sb, path_b)):
        if not side.answers:
            raise DiffError(f"{path} holds no answers (its store and tables are empty)")
    say(f"A: {sa.describe()}")
    say(f"B: {sb.describe()}")
    counts = {"beyond noise": 0, "within noise": 0, "not judged": 0, "timing": 0, "not comparable": 0}
    md = [f"# ex1 diff\n\n- A: `{sa.root}`\n- B: `{sb.root}`\n",
          "| question | table | where | quantity | A | B | B − A | noise (95%) | verdict |",
          "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |"]
    run_totals: dict[str, int] = {}
    only = sorted(set(sa.answers) ^ set(sb.answers))
    import experiments

    order = {q: i for i, q in enumerate(experiments.QUESTIONS)}
    for qid in sorted((q for q in sa.answers if q in sb.answers), key=lambda q: (order.get(q, len(order)), q)):
        a, b = pair(sa.answers[qid], sb.answers[qid])
        reasons = run_reasons(sa, sb, qid, a, b)
        for k, v in reasons.items():
            run_totals[k] = run_totals.get(k, 0) + v
        why = protocol(a, b)
        if why:
            counts["not comparable"] += 1
            say(f"{qid}: not comparable ({why})")
            md.append(f"| {qid} | | | | | | | | not comparable: {why} |")
            continue
        diffs, skipped = compare(qid, a, b)
        by = {v: [d for d in diffs if d.verdict == v] for v in counts}
        for v, ds in by.items():
            counts[v] += len(ds)
        head = ", ".join(f"{len(by[v])} {v}" for v in ("beyond noise", "within noise", "not judged") if by[v])
        runs = "; runs: " + ", ".join(f"{w} {n}" for w, n in sorted(reasons.items())) if reasons else ""
        say(f"{qid}: " + (head or "no reported number differs") + (f" (and {len(by['timing'])} timings)"
                                                                      if by["timing"] else "") + runs)
        for v in ("beyond noise", "not judged", "within noise"):
            shown = by[v] if every or v != "within noise" else []
            ranked = sorted(shown, key=lambda d: -abs(d.b - d.a) / (d.noise or 1e-12))
            for d in ranked[:None if every else _LIST]:
                say(f"  {d.line()}")
            if len(ranked) > _LIST and not every:
                say(f"  ... and {len(ranked) - _LIST} more {v} (all of them: --all-numbers or --markdown)")
        for s in skipped:
            say(f"  not compared: {s}")
        for d in diffs:
            if d.verdict != "timing":
                noise = "" if d.noise is None else ("exact" if d.noise == 0 else f"±{d.noise:.3g}")
                md.append(f"| {qid} | {d.table} | {d.where} | {d.column} | {d.a:.6g} | {d.b:.6g} | {d.b - d.a:+.3g} "
                          f"| {noise} | {d.verdict} |")
        md += [f"| {qid} | {s.split('.csv')[0]} | | | | | | | not compared: {s} |" for s in skipped]
    for qid in only:
        say(f"{qid}: only in {'A' if qid in sa.answers else 'B'}")
    runs_line = ", ".join(f"{w}: {n}" for w, n in sorted(run_totals.items(), key=lambda kv: -kv[1]))
    summary = (f"summary: numbers that differ: {counts['beyond noise']} beyond noise, {counts['within noise']} within "
               f"noise, {counts['not judged']} not judged, {counts['timing']} timings; questions: "
               f"{counts['not comparable']} not comparable, {len(only)} in one folder only")
    if runs_line:
        say(f"runs, by why their keys differ: {runs_line}")
    say(summary)
    if markdown:
        from ex1.fsutil import write_atomically

        text = "\n".join(md + ["", summary, "", f"Runs, by why their keys differ: {runs_line or 'none compared'}", ""])
        write_atomically(Path(markdown), lambda tmp: tmp.write_text(text, encoding="utf-8"), "the comparison")
        say(f"markdown: {markdown}")
    return counts
