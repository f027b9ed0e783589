"""Render the answers into one PDF (Jinja2 -> HTML -> WeasyPrint), and the hand-in ZIP."""

from __future__ import annotations

import base64
import os
import platform
import re
import zipfile
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from ex1 import machine
from ex1.fsutil import interrupt_guard, write_atomically, write_error
from ex1.stats import signed

from . import appendix as appendix_mod
from .sections import huji_depth as huji_sections
from . import prompts, sections
from .mathsvg import tex

SHEET_TITLES = {
    "huji": "HUJI 67103, Assignment 1: CNN",
    "tuebingen": "Tübingen, Deep Neural Networks, Assignment 10",
    "eth": "ETH Zürich, Deep Learning 2018, Series 5",
    "bonn": "Bonn, Deep Learning for Visual Recognition, Assignment 4",
}

QUICK_CSS = """@page { @bottom-left { content: "QUICK PROFILE: NOT RESULTS"; color: #b00; font-weight: bold;
font-size: 8pt; } }"""


def _env() -> Environment:
    env = Environment(loader=PackageLoader("report", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    # {% filter display %}LaTeX{% endfilter %}: block text reaches ziamath raw, backslashes and all.
    env.filters["display"] = lambda s: tex(str(s).strip(), display=True)
    env.filters["math"] = lambda s: tex(str(s).strip())
    env.filters["qname"] = question_name
    env.filters["times"] = huji_sections.pretty   # "4x5x5" as the text writes it
    env.filters["qshort"] = lambda qid: question_name(qid, short=True)
    env.globals.update(tex=tex, signed=signed, pct=sections.pct, num=sections.num, secs=sections.secs, sci=sections.sci,
                       svg_src=lambda svg: Markup("data:image/svg+xml;base64,"
                                                  + base64.b64encode(svg.encode()).decode()))
    return env


SHEET_NAMES = {"huji": "HUJI", "tuebingen": "Tübingen", "eth": "ETH", "bonn": "Bonn"}


def question_name(qid: str, short: bool = False) -> str:
    """'bonn.p4' -> 'Bonn Programming 4' (short: 'Bonn P4'), 'huji.3.1' -> 'HUJI 3.1': how the text names them."""
    sheet = qid.split(".", 1)[0]
    number = _number(qid)
    if short:
        number = number.replace("Theory ", "T").replace("Programming ", "P")
    return f"{SHEET_NAMES.get(sheet, sheet)} {number}"


def _number(qid: str) -> str:
    """'huji.1.2' -> '1.2', 'huji.t3' -> 'Theory 3', 'bonn.p1' -> 'Programming 1', as the sheets name them."""
    part = qid.split(".", 1)[1]
    for prefix, word in (("t", "Theory"), ("p", "Programming")):
        if part[0] == prefix and part[1:].isdigit():
            return f"{word} {part[1:]}"
    return part


def _provenance(answers) -> list[dict]:
    rows = []
    first_user = {appendix_mod.run_identity(r): r["questions"][0] for r in appendix_mod.distinct_runs(answers)[0]}
    for a in answers:
        runs = a.record.get("runs", [])
        seeds = sorted({r["config"]["seed"] for r in runs})
        # Images trained over seconds trained, across the question's runs: a mean of per-run rates would let
        # a tiny, fast model (softmax regression) dominate.
        images = sum(r["final_step"] * r["config"]["batch_size"] for r in runs)
        seconds = sum(r["train_seconds"] for r in runs)
        rows.append({"id": a.question.id, "runs": len(runs), "seeds": ", ".join(map(str, seeds)),
                     # the runs an earlier question of the report uses first (3.3 reads the sweeps of 3.1 and 3.2)
                     "read": sum(first_user.get(appendix_mod.run_identity(r)) not in (None, a.question.id)
                                 for r in runs),
                     "wall": a.record["wall_seconds"] + a.record.get("reused_run_seconds", 0.0),
                     "ips": f"{images / seconds:,.0f}" if seconds > 0 else ""})
    return rows


def _machine_text(m: dict, full: bool) -> str:
    """A recorded machine as the cover (short) or the provenance appendix (full) names it."""
    simd = m.get("simd") or []
    text = f"{m['cpu']}, {m['logical_cores']} logical cores"
    if full:
        text += "".join(f", {x}" for x in (" ".join(simd), m.get("kernels")) if x) + f"; {m['platform']}"
    elif machine.NATIVE_BF16 & set(simd):
        text += ", native bfloat16"
    return text + f"; TensorFlow {m['tensorflow']}, Keras {m['keras']}"


def computed_on(answers, full: bool = False) -> list[str]:
    """The machines that trained the answers, as the answers' own records name them (not the machine rendering
    them: a TA renders a student's results on another one); each with its questions where there are several."""
    groups: dict[str | None, list[str]] = {}
    for a in answers:
        if a.record.get("runs"):
            m = a.record.get("machine")
            groups.setdefault(_machine_text(m, full) if m else None, []).append(question_name(a.question.id, short=True))
    unknown = "not recorded with these answers (computed by a version of ex1 that did not record it)"
    if len(groups) == 1:
        return [next(iter(groups)) or unknown]
    return [f"{line or 'not recorded'} ({', '.join(qs)})" for line, qs in groups.items()]


def _precision_reason(answers, precision: str) -> str:
    """Why the answers' precision, judged on the machine that computed them."""
    recorded = [a.record["machine"] for a in answers if a.record.get("runs") and a.record.get("machine")]
    here = machine.summary()
    if not recorded or any((m["cpu"], m["simd"]) != (here["cpu"], here["simd"]) for m in recorded):
        native = {bool(machine.NATIVE_BF16 & set(m["simd"])) for m in recorded}
        if len(native) != 1:
            return "the precision the answers were computed in"
        auto = "mixed_bfloat16" if native.pop() else "float32"
        return ("the automatic choice on the CPU that computed them" if auto == precision
                else f"chosen by hand; the automatic choice on the CPU that computed them is {auto}")
    auto, why = machine.auto_precision()
    return (f"the automatic choice: {why}" if precision == auto
            else f"chosen by hand; the automatic choice here is {auto}: {why}")


def _datasets(answers, ctx) -> list[dict]:
    """Each dataset the answers used, as their records state it (the report renders without the datasets);
    answers stored by a version that did not record it read the dataset itself."""
    facts: dict[str, dict | None] = {}
    for a in answers:
        for d in a.question.datasets:
            if facts.get(d) is None:
                facts[d] = a.record.get("datasets", {}).get(d)
    rows = []
    for d, f in sorted(facts.items()):
        if f is None:
            ds = ctx.dataset(d)
            f = {"source": ds.source, "fingerprint": ds.fingerprint, "train": len(ds.y_train), "test": len(ds.y_test)}
        rows.append({"name": d, **f, "source": without_paths(f["source"])})
    return rows


RUNNING_HEADER_CHARS = 110   # sheet and question side by side on one 8 pt line of an A4 page


def running_title(heading: str, sheet_title: str) -> str:
    """The question's heading as the page header repeats it: cut at a word, with an ellipsis, where the
    sheet's title beside it would otherwise push it onto a second line."""
    room = RUNNING_HEADER_CHARS - len(sheet_title)
    if len(heading) <= room:
        return heading
    cut = heading[:room - 1].rsplit(" ", 1)[0].rstrip(" ,:;.")
    return cut + "…"


def render_html(answers, ctx, names: list[str] | None = None, run_seconds: float = 0.0,
                left_out: list[str] | None = None) -> str:
    env = _env()
    grouped: dict[str, list] = {}
    toc = []
    for a in answers:
        q = a.question
        heading = f"{_number(q.id)}  {q.title}"
        grouped.setdefault(q.sheet, []).append({
            "id": q.id, "anchor": "q-" + q.id.replace(".", "-"), "heading": heading,
            "running": running_title(heading, SHEET_TITLES.get(q.sheet, q.sheet)),
            "prompt": prompts.typeset(q.id, q.prompt), "ctx": sections.build(a),
        })
    sheet_sections = []
    for sheet, qs in grouped.items():
        sid = f"sheet-{sheet}"
        sheet_sections.append({"id": sid, "title": SHEET_TITLES.get(sheet, sheet), "questions": qs})
        toc.append({"level": 1, "id": sid, "title": SHEET_TITLES.get(sheet, sheet)})
        toc += [{"level": 2, "id": s["anchor"], "title": s["heading"]} for s in qs]
    for anchor, heading in (*appendix_mod.KINDS.values(), appendix_mod.RUNS, appendix_mod.CODE,
                            appendix_mod.PROVENANCE):
        toc.append({"level": 1, "id": anchor, "title": heading})

    datasets = _datasets(answers, ctx)
    css = (Path(__file__).parent / "templates" / "style.css").read_text()
    if ctx.profile.name != "full":
        css += QUICK_CSS
    # Each training run once, however many questions use it (the HUJI baseline serves several).
    all_runs, runs_of = appendix_mod.distinct_runs(answers)
    precision_reason = _precision_reason(answers, ctx.precision)
    return number_figures_and_tables(env.get_template("report.html.j2").render(
        title="Assignment 1: Convolutional Neural Networks", names=names, css=Markup(css), left_out=left_out or [],
        is_full=ctx.profile.name == "full", profile=ctx.profile, answers=answers,
        included={a.question.id for a in answers},
        sheets=[SHEET_TITLES[s].split(",")[0] for s in grouped], sections=sheet_sections, toc=toc,
        versions=machine.versions(),
        rendered_on=f"{machine.cpu_description()}, {machine.kernels_description()}; "
                    f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
        computed_on=computed_on(answers, full=True), computed_on_cover=computed_on(answers),
        precision=ctx.precision, precision_reason=precision_reason, datasets=datasets,
        provenance=_provenance(answers), total_train_seconds=sum(r["train_seconds"] for r in all_runs),
        damaged=[f"{k} ({why})" for k, why in ctx.store.damaged], run_seconds=run_seconds,
        appendix=appendix_mod.Appendix(), kinds=appendix_mod.KINDS, all_runs=all_runs, runs_of=runs_of,
        run_ranges=appendix_mod.ranges, first_run=appendix_mod.first_run,
        by_first_use=lambda qid, rids: appendix_mod.by_first_use(qid, rids, all_runs),
        code_map=appendix_mod.code_map(answers, Path(__file__).resolve().parents[1]),
        appx_runs=appendix_mod.RUNS, appx_code=appendix_mod.CODE, appx_provenance=appendix_mod.PROVENANCE,
    ))


def render_section_text(answer) -> str:
    """One question's section as the report words it, tags stripped: what a test reads its sentences from."""
    import html
    import re

    env = _env()
    template = env.from_string('{% import "macros.html.j2" as m with context %}'
                               '{% include "sections/" ~ s.id ~ ".html.j2" %}')
    appendix = appendix_mod.Appendix()
    appendix.begin(answer.question.id)
    out = template.render(s={"id": answer.question.id, "ctx": sections.build(answer)}, appendix=appendix,
                          kinds=appendix_mod.KINDS)
    # what the answer moved to its notes in appendix C is still its text
    out += " ".join(f" {n.title}. {n.html}" for items in appendix.items.values() for n in items
                    if isinstance(n, appendix_mod.Note))
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", out))).strip()


class PdfEngineMissing(RuntimeError):
    """WeasyPrint cannot run here: the system library it needs (Pango) is missing."""


PANGO_INSTALL = ("Debian/Ubuntu: sudo apt install libpango-1.0-0 libpangoft2-1.0-0; Fedora: sudo dnf install pango; "
                 "macOS: brew install pango; Windows: install MSYS2, then pacman -S mingw-w64-x86_64-pango "
                 "(README, System requirements)")


def check_pdf_engine() -> None:
    """Render a one-line document, so that a missing library shows before any training, not after it."""
    try:
        from weasyprint import HTML

        HTML(string="<p>ex1</p>").write_pdf()
    except Exception as e:  # OSError from the library loader, ImportError, and what WeasyPrint raises
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise PdfEngineMissing(f"the PDF engine (WeasyPrint) cannot run on this machine ({reason}). Install Pango: "
                               f"{PANGO_INSTALL}; or run with --html --no-pdf for the report as one HTML file") from e


def build_html(answers, ctx, path: Path, **kwargs) -> Path:
    """The report as one self-contained HTML file: styles, figures (SVG) and formulas all inline."""
    with interrupt_guard():
        html = render_html(answers, ctx, **kwargs)
        return write_atomically(Path(path), lambda tmp: tmp.write_text(html, encoding="utf-8"), "the HTML report")


def write_pdf(html: str, path: Path) -> Path:
    """HTML to PDF, written to a temporary file and renamed: a failure leaves no partial PDF."""
    import logging

    from weasyprint import HTML

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    return write_atomically(Path(path), lambda tmp: HTML(string=html, base_url=str(Path(__file__).parent))
                            .write_pdf(tmp), "the report")


def build_pdf(answers, ctx, path: Path, **kwargs) -> Path:
    # Ctrl-C while rendering must stop the command even where a library in between swallows the
    # KeyboardInterrupt (a C callback does): the guard re-raises it, and the PDF is not put in place.
    with interrupt_guard():
        html = render_html(answers, ctx, **kwargs)
        if os.environ.get("EX1_KEEP_HTML"):  # for looking at the markup while restyling
            path.with_suffix(".html").write_text(html)
        return write_pdf(html, path)


def without_paths(text: str) -> str:
    """A data source as the report may print it: a path of the building machine becomes its file or folder name
    ('file DIR/mnist.npz' -> 'file mnist.npz')."""
    return " ".join(Path(w).name if ("/" in w or "\\" in w) and len(w) > 1 else w for w in text.split(" "))


_FIGURE = re.compile(r'<figure id="([^"]+)"')
_TABLE = re.compile(r'<table(?: id="([^"]*)")? class="data[^"]*"')
_NOTE = re.compile(r'<div class="note" id="([^"]+)"')
_REF = re.compile(r'<a class="(figref|tabref|noteref)" href="#([^"]+)"></a>')
_CAPTION = {"Figure": ("<figcaption>", "</figure>"), "Table": ("<caption>", "</table>"),
            "Note": ('<h3 class="note no-toc">', "</h3>")}


def number_figures_and_tables(html: str) -> str:
    """Figures, tables and appendix notes numbered in the order they appear, their captions and every reference to
    them written out ("Figure 3", "Table 12", "Note 2"): in the HTML itself, so that a browser shows what the PDF shows
    (no browser implements CSS's target-counter)."""
    numbers: dict[str, str] = {}
    out, at, counts = [], 0, {"Figure": 0, "Table": 0, "Note": 0}
    marks = sorted([(m.start(), "Figure", m.group(1)) for m in _FIGURE.finditer(html)]
                   + [(m.start(), "Table", m.group(1)) for m in _TABLE.finditer(html)]
                   + [(m.start(), "Note", m.group(1)) for m in _NOTE.finditer(html)])
    for start, kind, anchor in marks:
        counts[kind] += 1
        label = f"{kind} {counts[kind]}"
        if anchor:
            numbers[anchor] = label
        tag, end = _CAPTION[kind]
        caption = html.find(tag, start)
        if caption < 0 or caption > html.find(end, start):
            continue   # no caption of its own: numbered (as CSS counted it), nothing to write
        tag_end = caption + len(tag)
        out.append(html[at:tag_end] + f'<span class="num">{label}.</span> ')
        at = tag_end
    out.append(html[at:])
    html = "".join(out)
    html = _REF.sub(lambda m: f'<a class="{m.group(1)}" href="#{m.group(2)}">{numbers.get(m.group(2), "?")}</a>', html)
    return _BACKING.sub(lambda m: _RUN_OF_REFS.sub(_grouped, m.group(0)), html)


_BACKING = re.compile(r'<p class="backing">.*?</p>', re.S)
_RUN_OF_REFS = re.compile(r'<a class="(figref|tabref|noteref)" href="#[^"]+">(Figure|Table|Note) \d+</a>'
                          r'(?:, <a class="\1" href="#[^"]+">\2 \d+</a>)+')


def _grouped(m: re.Match) -> str:
    """'Table 14, Table 15' in an answer's appendix line as 'Tables 14, 15': each number still its own link."""
    kind = m.group(2)
    return f"{kind}s " + m.group(0).replace(f">{kind} ", ">").replace(f'class="{m.group(1)}"', f'class="{m.group(1)} n"')


def write_figures(answers, directory: Path) -> Path:
    """Every figure of the report as SVG and PNG (<dir>/<question id>/<figure>.svg|.png), for a student's own
    LaTeX or Word document."""
    from . import figures

    for a in answers:
        d = Path(directory) / a.question.id
        found = sections.figures_in(sections.build(a))
        if not found:
            continue
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise write_error("the figures", d, e) from e
        for fig in found:
            write_atomically(d / f"{fig.id}.svg", lambda tmp: tmp.write_text(fig.svg, encoding="utf-8"), "a figure")
            png = figures.png_of(fig.svg)
            if png is not None:
                write_atomically(d / f"{fig.id}.png", lambda tmp: tmp.write_bytes(png), "a figure")
    figures.forget_drawn()
    return Path(directory)


def write_tables(answers, directory: Path) -> Path:
    """Every answer's tables as CSV (<dir>/<question id>/<table>.csv), for readers who want the numbers."""
    for a in answers:
        d = Path(directory) / a.question.id
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise write_error("the tables", d, e) from e
        for name, df in a.result.tables.items():
            write_atomically(d / f"{name}.csv", lambda tmp: df.to_csv(tmp, index=False), "a table")
    return Path(directory)


# The hand-in holds the project itself, nothing that happens to lie in its folder (a virtualenv
# under any name, outputs, caches): these packages and files, as the project ships them.
HANDIN_PACKAGES = ("ex1", "experiments", "report", "tests")
HANDIN_FILES = ("Ex1_main.py", "pyproject.toml", "README.md")
HANDIN_SUFFIXES = (".py", ".j2", ".css")


def handin_missing(project_root: Path) -> list[str]:
    """What the hand-in must hold but project_root lacks (an installed copy has no pyproject.toml, README or
    tests)."""
    root = Path(project_root)
    return ([f for f in HANDIN_FILES if not (root / f).is_file()]
            + [f"{pkg}/" for pkg in HANDIN_PACKAGES if not (root / pkg).is_dir()])


def handin_files(project_root: Path) -> list[Path]:
    root = Path(project_root)
    files = [root / f for f in HANDIN_FILES if (root / f).is_file()]
    for pkg in HANDIN_PACKAGES:
        files += [p for p in (root / pkg).rglob("*") if p.is_file() and p.suffix in HANDIN_SUFFIXES
                  and "__pycache__" not in p.parts]
    return sorted(files)


def build_zip(reports, project_root: Path, path: Path, evidence: list[tuple[Path, str]] = ()) -> Path:
    """The sheet's hand-in: the project's code, templates, pyproject.toml and README, and the report (the PDF, and
    the HTML where it was written: every report the manifest names, so that `ex1 verify` finds each); with
    evidence, (file, name) pairs from report.evidence: the results the reports were rendered from and the manifest."""
    root = Path(project_root)
    reports = [Path(reports)] if isinstance(reports, (str, Path)) else [Path(r) for r in reports]

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for p in handin_files(root):
                z.write(p, p.relative_to(root).as_posix())
            for r in reports:
                z.write(r, r.name)
            for p, name in evidence:
                z.write(p, name)

    return write_atomically(Path(path), write, "the hand-in archive")


__all__ = ["build_pdf", "build_zip", "handin_missing", "render_html", "write_figures", "write_pdf", "write_tables"]
