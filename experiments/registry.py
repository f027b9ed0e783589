"""The question registry, id selection, and the executor that caches each question's Result."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any, Callable


from ex1 import codehash, machine, models, runner, theory
from ex1 import data as data_mod
from ex1.result import Result
from ex1.runner import Context, run_summary, wall_share


@dataclass(frozen=True)
class Question:
    id: str
    title: str
    fn: Callable[[Any, Context], Result]
    config: Callable[[Context], Any]      # the question's frozen config, derived from the profile
    datasets: tuple[str, ...]             # whose fingerprints key the cached result
    prompt: str                           # the sheet's words, for the report
    # requires(cfg, ctx) -> None, or what is too small in the data for this question (checked before training)
    requires: Callable[[Any, Context], str | None] | None = None

    @property
    def sheet(self) -> str:
        return self.id.split(".")[0]


QUESTIONS: dict[str, Question] = {}


def question(qid: str, title: str, config: Callable[[Context], Any] = lambda ctx: None,
             datasets: tuple[str, ...] = ("mnist",), requires: Callable[[Any, Context], str | None] | None = None):
    """Register fn(cfg, ctx) -> Result as the answer to question `qid`; its docstring quotes the sheet."""

    def wrap(fn):
        if qid in QUESTIONS:
            raise ValueError(f"question {qid} registered twice")
        prompt = (fn.__doc__ or "").strip()
        QUESTIONS[qid] = Question(qid, title, fn, config, datasets, prompt, requires)
        return fn

    return wrap


class UnknownQuestion(ValueError):
    pass


def select(tokens: list[str] | None) -> list[Question]:
    """Questions matching ids or id prefixes ('huji.3' selects huji.3.1-3.3), in any case, in report order."""
    if not tokens:
        return list(QUESTIONS.values())
    chosen, unknown = set(), []
    for t in tokens:
        t = t.strip().lower().rstrip(".")
        hits = [q for q in QUESTIONS if q == t or q.startswith(t + ".")]
        if not hits:
            unknown.append(t)
        chosen.update(hits)
    if unknown:
        raise UnknownQuestion("; ".join(_unknown(t) for t in unknown) + ". See the ids with: ex1 --list")
    return [q for q in QUESTIONS.values() if q.id in chosen]


def _unknown(token: str) -> str:
    """'unknown question id huji.31 (did you mean huji.3.1?)': the nearest ids and sheet prefixes, if any."""
    import difflib

    names = [*QUESTIONS, *sheets()]
    same = [n for n in names if n.replace(".", "") == token.replace(".", "")]   # 'huji.31' for huji.3.1
    near = same + [n for n in difflib.get_close_matches(token, names, n=3, cutoff=0.6) if n not in same]
    return f"unknown question id {token!r}" + (f" (did you mean {' or '.join(near[:3])}?)" if near else "")


def preflight(questions: list[Question], ctx: Context) -> None:
    """What can fail on the data, checked before anything trains: every dataset the questions
    need loads, and each is large enough for the questions that draw subsets or hold-outs from it."""
    for name in dict.fromkeys(d for q in questions for d in q.datasets):
        ctx.dataset(name)
    problems = []
    for q in questions:
        if q.requires is not None:
            problem = q.requires(q.config(ctx), ctx)
            if problem:
                problems.append(f"{q.id} {problem}")
    if problems:
        raise data_mod.DataError("the data is too small: " + "; ".join(problems)
                                 + ". Use the complete dataset, or leave these questions out with --only.")


def sheets() -> list[str]:
    return list(dict.fromkeys(q.sheet for q in QUESTIONS.values()))


@dataclass
class Answer:
    question: Question
    result: Result
    record: dict    # config, wall time, cache hit, runs, versions of what produced it


def _config_dict(cfg) -> Any:
    return asdict(cfg) if is_dataclass(cfg) else cfg


def question_key(q: Question, cfg, ctx: Context) -> tuple[str, dict]:
    from ex1.store import config_hash

    payload = _payload(q, cfg, ctx, {d: ctx.dataset(d).fingerprint for d in q.datasets})
    return config_hash(payload), payload


def find_stored(q: Question, ctx: Context, read: bool = True):
    """(key, entry) of q's stored answer for ctx's profile and settings, or None. With every dataset q reads on
    this machine, the answer stored for exactly that data; with one missing, the newest answer stored for this
    profile, code and settings whatever data it was computed from (the data's fingerprint is checked when
    something must train): a TA with a student's results folder reads every answer without the datasets.
    Without read, only whether one is stored: (key, None), its checksums unchecked."""
    from ex1.store import config_hash

    kind, cfg = f"questions/{q.id}", q.config(ctx)
    here = {d: ctx.local_fingerprint(d) for d in q.datasets}
    if all(here.values()):
        key, _ = question_key(q, cfg, ctx)
        entry = ctx.store.load(kind, key) if read else None
        return (key, entry) if entry is not None or (not read and ctx.store.path(kind, key).is_dir()) else None
    wanted = config_hash({**_payload(q, cfg, ctx, data=here), "data": None})
    folder = ctx.store.root / "questions" / q.id
    found = []
    for p in folder.glob("*/record.json") if folder.is_dir() else ():
        try:
            payload = json.loads(p.read_text())["record"]["key_payload"]
            same = (config_hash({**payload, "data": None}) == wanted
                    and all(v is None or payload["data"].get(d) == v for d, v in here.items()))
            if same and config_hash(payload) == p.parent.name:
                found.append((p.stat().st_mtime, p.parent.name))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    for _, key in sorted(found, reverse=True):
        if not read:
            return key, None
        entry = ctx.store.load(kind, key)   # checksums checked: a damaged one is skipped
        if entry is not None:
            return key, entry
    return None


def _payload(q: Question, cfg, ctx: Context, data: dict[str, str | None]) -> dict:
    return {
        "question": q.id, "profile": asdict(ctx.profile), "config": _config_dict(cfg),
        "precision": ctx.precision, "data": data,
        "code": codehash.combined(question_code_deps(q)),
    }


def question_code_deps(q: Question) -> dict[str, str]:
    # Whole modules, and the engine's version: a new engine version re-assembles every answer (a stored answer
    # is served without looking at its runs), while the runs, keyed by the code they use, stay cached where
    # that code did not change.
    return {**runner.ENGINE, **codehash.code_versions(sys.modules[q.fn.__module__], models, data_mod, runner, theory)}


def _newest_record(folder: Path, profile: str) -> dict | None:
    """The record of the newest stored answer in folder computed in this profile (unreadable ones skipped)."""
    best, best_time = None, -1.0
    for p in folder.glob("*/record.json"):
        try:
            rec = json.loads(p.read_text())["record"]
            t = p.stat().st_mtime
            if rec["key_payload"]["profile"]["name"] == profile and t > best_time:
                best, best_time = rec, t
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return best


def stored_precisions(store_root: Path, profile: str) -> dict[str, int]:
    """{precision: number of questions with an answer stored in it} for this profile, read from the records' keys:
    what a results folder was computed in, which another machine's automatic choice may not be."""
    counts: dict[str, set[str]] = {}
    for p in Path(store_root, "questions").glob("*/*/record.json"):
        try:
            payload = json.loads(p.read_text())["record"]["key_payload"]
            if payload["profile"]["name"] == profile:
                counts.setdefault(payload["precision"], set()).add(payload["question"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return {k: len(v) for k, v in counts.items()}


def out_of_date(questions: list[Question], ctx: Context) -> str | None:
    """One line for answers that the store holds only for older code or settings: which dependency
    changed and how many stored training runs will therefore train again; None when nothing is stale."""
    stale, deps, runs = [], set(), set()
    for q in questions:
        folder = ctx.store.root / "questions" / q.id
        if not folder.is_dir() or find_stored(q, ctx, read=False) is not None:
            continue
        old = _newest_record(folder, ctx.profile.name)
        if old is None:
            continue
        stale.append(q.id)
        if "code_deps" in old:
            deps.update(codehash.changed(old["code_deps"], question_code_deps(q)))
        else:
            deps.add("the code (stored by a version that did not record its dependencies)")
        for r in old.get("runs", []):
            if "code_inputs" in r:
                ch = codehash.changed(r.get("code_deps"), runner.run_code_deps(**runner.code_inputs(r)))
                if ch and r.get("code_deps") == runner.run_code_deps(**runner.code_inputs(r), legacy=True):
                    ch = []   # stored under the key it had before run keys named the engine's version: reused
                ident = r.get("identity")
            else:
                ch, ident = ["the code"], json.dumps([r.get("model"), r.get("config")], sort_keys=True)
            if ch:
                runs.add(ident)
                deps.update(d for d in ch if d != "the code")
    if not stale:
        return None
    what = ", ".join(sorted(deps)) if deps else "their settings or data"
    ids = ", ".join(stale) if len(stale) <= 6 else ", ".join(stale[:6]) + ", ..."
    # Only runs whose code changed are counted here; runs whose settings changed are new runs, which the
    # progress line's estimate includes. "0 will train again" read as "nothing trains" before a 30-minute run.
    again = (f"; {len(runs)} stored training run{'s' if len(runs) != 1 else ''} will train again" if runs else "")
    return (f"stored answers out of date for {len(stale)} question{'s' if len(stale) != 1 else ''} ({ids}): "
            f"{what} changed since they were computed" + again)


class NotStored(LookupError):
    """The store holds no answer to a question for these settings; the message names the command."""


def stored(q: Question, ctx: Context) -> Answer:
    """The stored answer to q, without computing anything: NotStored when there is none."""
    found = find_stored(q, ctx)
    if found is None:
        profile = "" if ctx.profile.name == "full" else f" --profile {ctx.profile.name}"
        raise NotStored(f"the answer to {q.id} is not in the store at {ctx.store.root} for the {ctx.profile.name} "
                        f"profile; compute it with: python Ex1_main.py --only {q.id}{profile} --out "
                        f"{ctx.store.root.parent} (or pass compute=True, which may train for minutes or hours)")
    rec = dict(found[1].record)
    rec["cache_hit"] = True
    return Answer(q, Result(found[1].tables, rec["facts"]), rec)


def execute(q: Question, ctx: Context) -> Answer:
    """The stored answer when its key matches, else compute it and store it atomically."""
    cfg = q.config(ctx)
    kind = f"questions/{q.id}"
    # With TensorBoard logs asked for, the answer is computed again from its stored runs (cheap), so that every run
    # is logged, also those of answers already stored.
    found = None if (ctx.rerun or ctx.tensorboard) else find_stored(q, ctx)
    entry = found[1] if found else None
    if entry is None:
        key, payload = question_key(q, cfg, ctx)   # computing needs the data
        # One process computes a question at a time; another asking for it waits and reuses the answer.
        with ctx.store.lock(kind, key, on_wait=lambda: ctx.log(
                f"== {q.id}: another process is computing this question; waiting for its answer")):
            entry = None if (ctx.rerun or ctx.tensorboard) else ctx.store.load(kind, key)
            if entry is None:
                return _compute(q, cfg, key, payload, ctx)
    rec = dict(entry.record)
    rec["cache_hit"] = True
    return Answer(q, Result(entry.tables, rec["facts"]), rec)


def _dataset_facts(ds) -> dict:
    return {"source": ds.source, "fingerprint": ds.fingerprint, "train": len(ds.y_train), "test": len(ds.y_test)}


def _compute(q: Question, cfg, key: str, payload: dict, ctx: Context) -> Answer:
    kind = f"questions/{q.id}"
    ctx.runs, ctx.question = [], q.id
    t0 = time.perf_counter()
    result = q.fn(cfg, ctx)
    wall = time.perf_counter() - t0
    runs = [run_summary(r) for r in ctx.runs]
    record = {
        "question": q.id, "key_payload": payload, "code_deps": question_code_deps(q),
        "facts": result.facts,
        # What the report's data table states, so that it renders without the datasets.
        "datasets": {d: _dataset_facts(ctx.dataset(d)) for d in q.datasets},
        "wall_seconds": wall, "runs": runs,
        # The machine is stated by the answer, not by whoever renders it later.
        "machine": machine.summary(),
        "trained_seconds": sum(r["train_seconds"] for r in runs if not r["cache_hit"]),
        # The time the reused runs took when they were trained, so a question's cost is never shown as 0.
        "reused_run_seconds": sum(wall_share(r) for r in runs if r["cache_hit"]),
    }
    entry = ctx.store.save(kind, key, result.tables, record)
    rec = dict(entry.record)
    rec["cache_hit"] = False
    # Return what the store holds, so a fresh answer renders exactly like a cached one.
    return Answer(q, Result(entry.tables, rec["facts"]), rec)

