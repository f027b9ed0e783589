"""The appendices: material an answer moves out of its page, collected while the body renders.

A question's template hands its layer tables and numerical-check tables to `Appendix.put` (through
the `table` macro, by the table's kind); the report prints them after the last answer, each once,
and ends every answer with links to what it moved there. Runs and the code map are built from the
answers' records, each training run once however many questions use it.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

# kind -> (anchor, heading); the order is the order of the appendices
KINDS = {
    "architectures": ("appendix-architectures", "Appendix A: architectures"),
    "checks": ("appendix-checks", "Appendix B: numerical checks"),
    "more": ("appendix-more", "Appendix C: further figures and tables"),
}
RUNS = ("appendix-runs", "Appendix D: training runs")
CODE = ("appendix-code", "Appendix E: code map")
PROVENANCE = ("provenance", "Appendix F: provenance")


@dataclass
class Appendix:
    items: dict[str, list] = field(default_factory=lambda: {k: [] for k in KINDS})
    owners: dict[str, list[str]] = field(default_factory=dict)      # table id -> questions that use it
    moved: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # question -> [(kind, table id)]
    question: str = ""

    def begin(self, qid: str) -> str:
        self.question = qid
        self.moved.setdefault(qid, [])
        return ""

    def put(self, kind: str, table) -> str:
        """Keep `table` (or figure) for appendix `kind`; one with an id already kept (a shared check) is kept once."""
        if table.id not in self.owners:
            self.items[kind].append(table)
            self.owners[table.id] = []
        if self.question not in self.owners[table.id]:
            self.owners[table.id].append(self.question)
        if (kind, table.id) not in self.moved.setdefault(self.question, []):
            self.moved[self.question].append((kind, table.id))
        return ""

    def note(self, title: str, html: str, kind: str = "more", paragraph_class: str = "") -> str:
        """Keep a passage of the current answer (its protocol in full, a numerical check) for an appendix (C unless
        `kind` says otherwise), where the answer links it: the body says what was done and found, the note how
        exactly. `paragraph_class` wraps the passage in one paragraph of that class."""
        from markupsafe import Markup

        body = Markup(html)
        if paragraph_class:
            body = Markup('<p class="{}">{}</p>').format(paragraph_class, body)
        return self.put(kind, Note(self.note_id(title), title, body))

    def note_id(self, title: str) -> str:
        return "note-" + re.sub(r"[^a-z0-9]+", "-", f"{self.question} {title}".lower()).strip("-")

    def of(self, qid: str, kind: str) -> list[str]:
        return [tid for k, tid in self.moved.get(qid, []) if k == kind]

    def refs(self, qid: str, kind: str) -> list[tuple[str, str]]:
        """(id, 'noteref', 'tabref' or 'figref') of what the question moved to appendix `kind`: notes, then tables,
        then figures, each in the order of the appendix, so that the answer's appendix line can say 'Tables 14, 15'."""
        cls = {item.id: "figref" if hasattr(item, "svg") else "noteref" if isinstance(item, Note) else "tabref"
               for item in self.items[kind]}
        order = {"noteref": 0, "tabref": 1, "figref": 2}
        return sorted(((tid, cls[tid]) for tid in self.of(qid, kind)), key=lambda r: order[r[1]])


@dataclass(frozen=True)
class Note:
    id: str
    title: str
    html: str


def run_identity(run: dict) -> str:
    """What the run computed (its store identity), not which question asked for it."""
    if run.get("identity"):
        return run["identity"]
    return json.dumps([run["model"], run["model_kwargs"], run["config"], run["dataset"], run["train_examples"],
                       run.get("validation"), run.get("pairs")], sort_keys=True, default=str)


def distinct_runs(answers) -> tuple[list[dict], dict[str, list[str]]]:
    """Every training run once, numbered R1, R2, ... in the order the report first uses them, and
    for each question the numbers of its runs."""
    ids: dict[str, str] = {}
    runs: list[dict] = []
    per_question: dict[str, list[str]] = {}
    for a in answers:
        mine = per_question.setdefault(a.question.id, [])
        # by label and seed, not by the order the question trained them: reordering changes no number
        for r in sorted(a.record.get("runs", []), key=lambda r: (r.get("label", ""), r["config"]["seed"],
                                                                  run_identity(r))):
            key = run_identity(r)
            if key not in ids:
                ids[key] = f"R{len(runs) + 1}"
                runs.append({**r, "rid": ids[key], "questions": []})
            row = runs[int(ids[key][1:]) - 1]
            if a.question.id not in row["questions"]:
                row["questions"].append(a.question.id)
            if ids[key] not in mine:
                mine.append(ids[key])
    return runs, per_question


def by_first_use(qid: str, rids: list[str], all_runs: list[dict]) -> tuple[list[str], list[str], int]:
    """The runs of a question split into those it trained first and those earlier questions trained, and
    how many earlier questions those are (3.3 reads every sweep run to choose its networks; its own runs
    are the six it trains)."""
    first = {r: all_runs[int(r[1:]) - 1]["questions"][0] for r in rids}
    own = [r for r in rids if first[r] == qid]
    earlier = [r for r in rids if first[r] != qid]
    return own, earlier, len({first[r] for r in earlier})


def first_run(rids: list[str]) -> str:
    """The lowest-numbered of the runs: where a link to 'R3–R5, R9' lands."""
    return min(rids, key=lambda r: int(r[1:]))


def ranges(rids: list[str]) -> str:
    """['R3', 'R4', 'R5', 'R9'] -> 'R3–R5, R9'."""
    nums = sorted(int(r[1:]) for r in rids)
    out, start = [], None
    for i, n in enumerate(nums):
        if start is None:
            start = n
        if i + 1 == len(nums) or nums[i + 1] != n + 1:
            out.append(f"R{start}" if start == n else f"R{start}–R{n}")
            start = None
    return ", ".join(out)


def ex1_main_functions(path: Path, qids: list[str]) -> dict[str, list[str]]:
    """For each question id, the functions of Ex1_main.py that name it (one per answer or plot)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    named = {n.name: {c.value for c in ast.walk(n) if isinstance(c, ast.Constant) and isinstance(c.value, str)}
             for n in functions}
    calls = {n.name: {c.func.id for c in ast.walk(n) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
             for n in functions}

    def names(fn: str, seen: frozenset = frozenset()) -> set[str]:
        # a plot names its question through the table function it calls (q1_2_accuracy_plot -> q1_2_accuracy_table)
        out = set(named.get(fn, ()))
        for callee in calls.get(fn, ()) - seen:
            if callee in named:
                out |= names(callee, seen | {fn})
        return out

    found: dict[str, list[str]] = {q: [] for q in qids}
    for n in functions:
        if not n.name.startswith("_") and n.name not in ("main", "run", "answer", "tools"):
            mine = names(n.name)
            for q in qids:
                if q in mine:
                    found[q].append(n.name)
    return found


def ex1_main_figures(path: Path) -> dict[str, str]:
    """{function of Ex1_main.py: the report figure it returns}, for the plot functions that return one through
    report_figure(qid, name): the figure's id, as report/sections/common.slug makes it."""
    out = {}
    for n in ast.parse(path.read_text(encoding="utf-8")).body:
        if not isinstance(n, ast.FunctionDef):
            continue
        for c in ast.walk(n):
            if (isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == "report_figure"
                    and len(c.args) == 2 and all(isinstance(a, ast.Constant) for a in c.args)):
                out[n.name] = f"{c.args[0].value.replace('.', '-')}-{c.args[1].value}"
    return out


def _engine(run: dict) -> str:
    """The function that trained a run: alone, packed with runs of its seed, or fused with a whole sweep."""
    from ex1.runner import code_inputs, trained_with

    if code_inputs(run).get("fused"):
        return "ex1/fused.py: train_fused"
    return "ex1/packed.py: train_packed" if trained_with(run) > 1 else "ex1/train.py: train"


def code_map(answers, project_root: Path) -> list[dict]:
    """Per answer: the Ex1_main function(s) that return it, the experiment function that computes it,
    and the model builders and training engine behind its runs."""
    from . import sections

    qids = [a.question.id for a in answers]
    main = project_root / "Ex1_main.py"
    functions = ex1_main_functions(main, qids) if main.is_file() else {q: [] for q in qids}
    plots = ex1_main_figures(main) if main.is_file() else {}
    rows = []
    for a in answers:
        q = a.question
        runs = a.record.get("runs", [])
        mine = functions[q.id] or ([f'theory_checks("{q.id}")'] if not runs else [f'answer("{q.id}")'])
        drawn = {f.id for f in sections.figures_in(sections.build(a))}
        builders = sorted({r["model"] for r in runs})
        engines = sorted({_engine(r) for r in runs})
        rows.append({"id": q.id, "main": mine, "figures": {f: plots[f] for f in mine if plots.get(f) in drawn},
                     "experiment": f"{q.fn.__module__.replace('.', '/')}.py: {q.fn.__name__}",
                     "trained_by": (f"ex1/models.py: {', '.join(builders)}; {'; '.join(engines)}" if runs
                                    else "no training; checks: ex1/theory.py")})
    return rows
