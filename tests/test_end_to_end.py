"""The quick profile end to end: a PDF with every answered question; a second run trains nothing."""

import os
from pathlib import Path

import pytest
from pypdf import PdfReader

import Ex1_main
import experiments
from ex1 import train


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("quick")
    args = ["--all", "--profile", "quick", "--data-dir", str(data_dir), "--out", str(out)]
    assert Ex1_main.main(args) == 0
    return out, args


def pdf_text(path):
    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def test_quick_pdf_has_every_question_both_counts_and_the_banner(quick_run):
    out, _ = quick_run
    text = " ".join(pdf_text(out / "Ex1_report_quick.pdf").split())   # a long title may wrap in a heading
    for q in experiments.QUESTIONS.values():
        assert q.title in text, q.id
    assert "1,111,946" in text and "3,274,634" in text
    assert "QUICK PROFILE" in text and "not results" in text
    assert "Appendix F: provenance" in text and "Contents" in text


def test_second_run_trains_nothing_counts_the_questions_and_carries_the_students_names(quick_run, monkeypatch,
                                                                                      capsys):
    out, args = quick_run

    def must_not_train(*a, **k):
        raise AssertionError("a cached run was retrained")

    monkeypatch.setattr(train, "train", must_not_train)
    capsys.readouterr()
    assert Ex1_main.main(args + ["--names", "Yann LeCun, Alex Krizhevsky"]) == 0
    printed = capsys.readouterr().out
    n = len(experiments.QUESTIONS)
    assert printed.count("from the store") == n
    assert f"[1/{n}] huji.1.1:" in printed and f"[{n}/{n}] bonn.p4:" in printed
    pdf = out / "Ex1_YannLeCun_AlexKrizhevsky_quick.pdf"
    assert "Yann LeCun · Alex Krizhevsky" in pdf_text(pdf)


def test_each_computed_answer_records_the_machine_that_trained_it(quick_run):
    import json

    from ex1 import machine

    out, _ = quick_run
    records = [json.loads(p.read_text())["record"] for p in (out / "store" / "questions").glob("*/*/record.json")]
    assert len(records) >= len(experiments.QUESTIONS)
    assert {r["machine"]["cpu"] for r in records} == {machine.cpu_name()}
    assert all(r["machine"]["kernels"] for r in records if r["runs"])   # TensorFlow trained them: it says how
    cover = " ".join(pdf_text(out / "Ex1_report_quick.pdf").split())
    assert f"trained on {machine.cpu_name()}" in cover


def test_damaged_entries_are_recomputed_not_rendered(quick_run, capsys):
    out, args = quick_run
    store = out / "store"
    (entry,) = (store / "questions" / "huji.1.2").iterdir()
    csv = entry / "tables" / "final.csv"
    csv.write_text(csv.read_text().replace("0.", "0.9", 1))
    (run_entry,) = [d for d in (store / "runs").iterdir() if '"label": "HUJI network"' in (d / "record.json").read_text()]
    (run_entry / "record.json").write_text("{")
    capsys.readouterr()
    assert Ex1_main.main(["--only", "huji.1"] + args[1:]) == 0   # HUJI 1 alone: the rest renders as before
    printed = capsys.readouterr().out
    assert "huji.1.2: computed" in printed and "huji.1.1: from the store" in printed
    assert "training huji_cnn for" in printed  # the damaged run itself was retrained
    assert "Damaged cached results" in pdf_text(out / "Ex1_report_quick_partial.pdf")


def test_one_function_per_answer_is_callable_from_python(quick_run, data_dir):
    out, _ = quick_run
    counts = Ex1_main.q1_1_parameter_count(profile="quick", data_dir=str(data_dir), out=str(out))
    assert set(counts) == {"valid", "same"}
    fig = Ex1_main.q1_2_accuracy_plot(profile="quick", data_dir=str(data_dir), out=str(out))
    assert fig.axes and fig.axes[0].get_xlabel() == "training step (mini-batches)"


def test_every_sheet_has_its_answer_functions(quick_run, data_dir):
    import pandas as pd

    out, _ = quick_run
    kw = dict(profile="quick", data_dir=str(data_dir), out=str(out))
    for name in ("tuebingen_1_error_table", "tuebingen_1_schedule_table", "bonn_p1_sweep_table",
                 "bonn_p2_accuracy_table", "bonn_p3_summary_table", "bonn_p4_networks_table",
                 "bonn_p4_confusion_table"):
        table = getattr(Ex1_main, name)(**kw)
        assert isinstance(table, pd.DataFrame) and len(table), name
    for name in ("tuebingen_1_error_plot", "bonn_p2_accuracy_plot", "bonn_p3_accuracy_plot"):
        assert getattr(Ex1_main, name)(**kw).axes, name
    for qid in ("tuebingen.2", "eth.1", "eth.3", "bonn.t1"):
        assert Ex1_main.theory_checks(qid, **kw), qid
    with pytest.raises(Ex1_main.NotStored):   # importable from Ex1_main, for an except clause
        Ex1_main.bonn_p2_accuracy_table(profile="quick", data_dir=str(data_dir), out=str(out / "empty"))


def test_list_shows_what_is_stored(quick_run, capsys):
    out, args = quick_run
    capsys.readouterr()
    assert Ex1_main.main(["--list", "--profile", "quick", "--out", str(out)] + args[3:5]) == 0
    listed = capsys.readouterr().out.strip().splitlines()
    rows = [line.split() for line in listed[1:-1]]
    assert [r[0] for r in rows] == list(experiments.QUESTIONS) and all(r[1] == "yes" for r in rows)
    n = len(experiments.QUESTIONS)
    assert listed[-1].split()[:3] == ["total", f"{n}/{n}", "0.0"]   # nothing left to train


def test_list_estimates_minutes_for_an_empty_store(tmp_path, data_dir, capsys):
    assert Ex1_main.main(["--list", "--profile", "quick", "--data-dir", str(data_dir), "--out", str(tmp_path)]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.strip().splitlines()[1:]}
    assert rows["huji.1.2"][1] == "no" and float(rows["huji.1.2"][2]) > 0
    assert rows["total"][1] == f"0/{len(experiments.QUESTIONS)}" and float(rows["total"][2]) > 0
    assert float(rows["huji.1.1"][2]) == 0                      # counting parameters trains nothing
    assert float(rows["huji.3.1"][2]) > 0                       # a sweep trained packed is planned too ...
    assert not list((tmp_path / "store" / "runs").glob("*"))    # ... and --list trains nothing


def test_the_html_report_is_one_self_contained_file_with_every_section_and_figure(quick_run):
    from html.parser import HTMLParser

    out, args = quick_run
    assert Ex1_main.main(args + ["--html", "--no-pdf"]) == 0

    class Parser(HTMLParser):
        def __init__(self):
            super().__init__()
            self.ids, self.figures, self.images, self.links = set(), [], [], []

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if "id" in a:
                self.ids.add(a["id"])
            if tag == "figure":
                self.figures.append(a.get("id"))
            if tag == "img":
                self.images.append(a.get("src", ""))
            if tag in ("a", "link", "script"):
                self.links.append(a.get("href") or a.get("src") or "")

    p = Parser()
    p.feed((out / "Ex1_report_quick.html").read_text(encoding="utf-8"))
    for q in experiments.QUESTIONS:
        assert "q-" + q.replace(".", "-") in p.ids, q
    assert len(p.figures) >= 20 and len(p.images) >= len(p.figures)
    assert all(src.startswith("data:image/svg+xml;base64,") for src in p.images)
    assert all(link.startswith("#") for link in p.links), [x for x in p.links if not x.startswith("#")]


def test_the_example_notebook_runs_on_the_stored_answers(quick_run, data_dir):
    import nbformat
    from nbclient import NotebookClient

    out, _ = quick_run
    nb = nbformat.read(Path(__file__).resolve().parents[1] / "docs" / "example.ipynb", as_version=4)
    env = {"EX1_PROFILE": "quick", "EX1_OUT": str(out), "EX1_DATA_DIR": str(data_dir)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4        # the figures, inline
    assert sum("text/html" in o.get("data", {}) for o in outputs) >= 5        # the tables
    assert any("python Ex1_main.py --only huji.1.2" in o.get("text", "") for o in outputs)


EXPECTED_COLUMNS = {
    ("huji.1.1", "params_valid"): {"layer", "type", "output_shape", "formula", "params"},
    ("huji.1.2", "history"): {"step", "epoch", "train_accuracy", "heldout_accuracy", "train_loss", "heldout_loss", "wall_s"},
    ("huji.2", "final"): {"model", "params", "train_accuracy", "test_accuracy", "images_per_second"},
    ("huji.2", "affinity"): {"model", "a", "relative_error"},
    ("huji.3.1", "sweep"): {"label", "params", "seeds", "validation_mean", "validation_std", "validation_min",
                            "frontier", "every_seed_reaches"},
    ("huji.3.2", "sweep"): {"label", "params", "seeds", "validation_mean", "validation_std", "validation_min",
                            "frontier", "every_seed_reaches"},
    ("huji.3.1", "sweep_seeds"): {"label", "seed", "params", "validation_accuracy", "train_accuracy"},
    ("huji.3.1", "candidate_layers"): {"label", "layer", "output_shape", "params"},
    ("huji.4", "summary"): {"experiment", "setting", "params", "n", "test_mean", "test_std", "ratio_mean", "ratio_std",
                            "validation_mean", "read_step", "read_step_min", "loss_mean", "loss_before_mean"},
    ("huji.4", "curves"): {"step", "train_accuracy", "heldout_accuracy", "ratio", "data"},
    ("huji.5.1", "history"): {"step", "train_accuracy", "heldout_accuracy"},
    ("huji.5.3", "evaluation"): {"model", "split", "pairs", "sum_accuracy", "digit_accuracy"},
    ("huji.5.3", "patterns"): {"sum classifier", "two-digit network", "pairs", "split"},
    ("huji.t3", "checks"): {"check", "max_abs_error"},
    ("huji.2", "params_linear"): {"layer", "output_shape", "params"},
    ("huji.4", "layers"): {"network", "layer", "output_shape", "params"},
    ("tuebingen.1", "errors"): {"step", "train_error", "test_error", "learning_rate"},
    ("tuebingen.1", "params"): {"layer", "output_shape", "params"},
    ("bonn.p1", "selection"): {"learning_rate", "final_val_error", "mean_val_error_last", "finite", "chosen"},
    ("bonn.p1", "curves"): {"step", "run", "heldout_accuracy", "train_loss"},
    ("bonn.p2", "history"): {"step", "train_loss", "heldout_accuracy"},
    ("bonn.p3", "summary"): {"regularisation", "n", "test_mean", "test_std"},
    ("bonn.p3", "per_seed"): {"regularisation", "seed", "test_accuracy"},
    ("bonn.p4", "per_class"): {"class", "images", "error", "most_confused_with"},
    ("bonn.p4", "confusion"): {"index", "airplane", "truck"},
    ("bonn.p4", "networks"): {"role", "epochs", "validation_accuracy", "best_validation_accuracy", "test_accuracy"},
    ("huji.t4", "counts"): {"by_formula", "keras"},
}


def test_every_question_writes_its_tables_with_the_expected_columns(quick_run):
    import pandas as pd

    out, _ = quick_run
    for q in experiments.QUESTIONS:
        assert list((out / "tables" / "quick" / q).glob("*.csv")), q
    for (q, name), columns in EXPECTED_COLUMNS.items():
        df = pd.read_csv(out / "tables" / "quick" / q / f"{name}.csv")
        assert columns <= set(df.columns), (q, name, columns - set(df.columns))
        assert len(df) > 0, (q, name)


def test_the_same_profile_and_seed_give_identical_tables(quick_run, tmp_path, data_dir):
    """Reproducibility: a second, independent store trains again and every measured number is identical."""
    import pandas as pd

    out, _ = quick_run
    again = tmp_path / "again"
    assert Ex1_main.main(["--only", "huji.1.2", "tuebingen.1", "--profile", "quick", "--data-dir", str(data_dir),
                          "--out", str(again)]) == 0
    timing = ["wall_s", "train_s"]   # seconds differ between runs; nothing else may
    for q, name in (("huji.1.2", "history"), ("tuebingen.1", "history"), ("tuebingen.1", "errors")):
        a = pd.read_csv(out / "tables" / "quick" / q / f"{name}.csv")
        b = pd.read_csv(again / "tables" / "quick" / q / f"{name}.csv")
        pd.testing.assert_frame_equal(a.drop(columns=timing, errors="ignore"), b.drop(columns=timing, errors="ignore"),
                                      check_exact=True)


def test_every_figure_and_table_is_referenced_from_the_text(quick_run, data_dir):
    import re

    from report import build

    out, _ = quick_run
    ctx = Ex1_main.make_context("quick", str(data_dir), str(out))
    answers = [experiments.execute(q, ctx) for q in experiments.QUESTIONS.values()]
    html = build.render_html(answers, ctx)
    targets = (re.findall(r'<figure id="([^"]+)"', html) + re.findall(r'<table id="([^"]+)" class="data', html)
               + re.findall(r'<div class="note" id="([^"]+)"', html))
    refs = set(re.findall(r'class="(?:figref|tabref|noteref)(?: n)?" href="#([^"]+)"', html))
    assert len(targets) > 40
    assert [t for t in targets if t not in refs] == []
    assert [r for r in refs if r not in targets] == []     # no reference to a missing figure or table


def test_the_budget_prices_every_distinct_run_of_the_stored_answers_once(quick_run):
    import json

    from ex1 import bench

    out, _ = quick_run
    df = bench.budget(out / "store", peak_gflops=50.0, profile="quick")
    listed = [r for p in (out / "store" / "questions").glob("*/*/record.json")
              for r in json.loads(p.read_text())["record"]["runs"]]
    assert len(df) < len(listed)                       # shared runs (the HUJI baseline, Bonn's seed 0) once
    assert {"huji.1.2", "huji.3.1", "bonn.p1", "bonn.p4"} <= set(df["question"])
    base = df[(df["question"] == "huji.1.2")].iloc[0]
    # 100 steps of 50 images, forward and two backward passes of the 9.59 MFLOP forward count
    assert base["train_tflop"] * 1e12 == pytest.approx(100 * 50 * 3 * 9_592_832)
    assert (df["floor_s"] > 0).all() and (df["measured_s"] > 0).all()
    with pytest.raises(ValueError, match="no full-profile answers"):
        bench.budget(out / "store", peak_gflops=50.0, profile="full")


def test_the_report_compares_only_with_the_sheets_and_published_results(quick_run, data_dir):
    """No figure the sheets do not set, and none of this project's own vocabulary, reaches the grader."""
    import re

    from report import build

    out, _ = quick_run
    ctx = Ex1_main.make_context("quick", str(data_dir), str(out))
    answers = [experiments.execute(q, ctx) for q in experiments.QUESTIONS.values()]
    text = re.sub(r"<[^>]+>", " ", build.render_html(answers, ctx)).lower()
    for phrase in ("project's target", "this project's target", "budget", "results store", "reused from the store"):
        assert phrase not in text, phrase


def test_layer_and_check_tables_and_runs_are_in_the_appendices_each_once(quick_run, data_dir):
    """The answers link to their layer tables, checks and runs; each of those is printed once, after the answers."""
    import re

    from report import appendix, build, sections

    out, _ = quick_run
    ctx = Ex1_main.make_context("quick", str(data_dir), str(out))
    answers = [experiments.execute(q, ctx) for q in experiments.QUESTIONS.values()]
    html = build.render_html(answers, ctx)
    body, appendices = html.split(f'id="{appendix.KINDS["architectures"][0]}"', 1)
    assert "how the size follows" not in body and "max abs error" not in body
    architectures = appendices.split(f'id="{appendix.KINDS["checks"][0]}"', 1)[0]
    # both readings of 1.1, the linear network, softmax regression, the two sweeps' candidates, question 4's
    # sizes, the networks of 5.1, 5.2, Tübingen 1 and Bonn (MNIST and CIFAR-10)
    assert len(re.findall(r'<table id="[^"]+" class="data', architectures)) >= 12
    assert appendices.count(f'<table id="{sections.CONV_BACKPROP_CHECKS}"') == 1
    for qid in ("tuebingen.2", "eth.3", "bonn.t1"):   # one check table, linked from all three answers
        answer = body.split(f'id="q-{qid.replace(".", "-")}"', 1)[1].split("</section>", 1)[0]
        assert f'class="tabref" href="#{sections.CONV_BACKPROP_CHECKS}"' in answer
    identities = {appendix.run_identity(r) for a in answers for r in a.record.get("runs", [])}
    rows = re.findall(r'<tr id="run-(R\d+)"', appendices)
    assert len(rows) == len(set(rows)) == len(identities)
    assert len(identities) < sum(len(a.record.get("runs", [])) for a in answers)   # shared runs exist
    for a in answers:
        if a.record.get("runs"):
            answer = body.split(f'id="q-{a.question.id.replace(".", "-")}"', 1)[1].split("</section>", 1)[0]
            assert 'href="#run-R' in answer, a.question.id
    code_map = appendices.split(f'id="{appendix.CODE[0]}"', 1)[1].split("</section>", 1)[0]
    assert "q1_2_accuracy_table" in code_map and "experiments/huji.py" in code_map
    for q in experiments.QUESTIONS.values():
        assert f'href="#q-{q.id.replace(".", "-")}">{q.id}</a>' in code_map


def test_the_order_of_a_questions_runs_changes_nothing_in_the_report(quick_run, data_dir):
    """Sections find runs by their role (label), never by position."""
    import copy

    from report import build

    out, _ = quick_run
    ctx = Ex1_main.make_context("quick", str(data_dir), str(out))
    answers = [experiments.execute(q, ctx) for q in experiments.QUESTIONS.values()]
    swapped = []
    for a in answers:
        record = copy.deepcopy(a.record)
        record["runs"] = record.get("runs", [])[::-1]
        swapped.append(type(a)(a.question, a.result, record))
    assert sum(len(a.record.get("runs", [])) > 1 for a in answers) >= 8
    assert build.render_html(swapped, ctx) == build.render_html(answers, ctx)


def test_an_answers_run_link_lands_on_the_first_run_of_its_range():
    from report import appendix

    assert appendix.ranges(["R10", "R4", "R5", "R6", "R12"]) == "R4–R6, R10, R12"
    assert appendix.first_run(["R10", "R4", "R5", "R6", "R12"]) == "R4"


def answer_lengths(path) -> dict[str, float]:
    """Pages from each question's heading to the next heading of a question, sheet or appendix, read off
    the PDF's outline (WeasyPrint bookmarks every heading); only the main body, before the first appendix."""
    reader = PdfReader(path)
    height = float(reader.pages[0].mediabox.height)
    marks = []   # (depth, title, position in pages from the top of page 1)

    def walk(items, depth):
        for it in items:
            if isinstance(it, list):
                walk(it, depth + 1)
            else:
                top = float(it.top) if it.top is not None else height
                marks.append((depth, it.title, reader.get_destination_page_number(it) + 1 - top / height))

    walk(reader.outline, 0)
    marks = [m for m in marks if m[0] <= 1]   # sheets and appendices, then questions
    lengths = {}
    for (depth, title, at), (next_depth, _, next_at) in zip(marks, marks[1:]):
        if title.startswith("Appendix"):
            break
        if depth == 1 and title != "Contents":
            # A heading at the top of a new page: the white rest of the page before it is not the answer's.
            ends = int(next_at) if next_at - int(next_at) < 0.12 else next_at
            lengths[title] = ends - at
    return lengths


def test_every_answer_fits_in_two_pages(quick_run):
    out, _ = quick_run
    lengths = answer_lengths(out / "Ex1_report_quick.pdf")
    assert len(lengths) == len(experiments.QUESTIONS)
    assert not {t: round(n, 2) for t, n in lengths.items() if n > 2.0}


def test_every_figure_of_the_report_is_also_a_file(quick_run):
    # For a student's own LaTeX or Word: each figure the PDF shows, as SVG and as PNG, by question.
    import re

    out, _ = quick_run
    folder = out / "figures" / "quick"
    svgs = sorted(folder.glob("*/*.svg"))
    pdf = " ".join(pdf_text(out / "Ex1_report_quick.pdf").split())
    assert len(svgs) >= 20 and {p.parent.name for p in svgs} >= {"huji.1.2", "huji.2", "bonn.p4"}
    for svg in svgs:
        png = svg.with_suffix(".png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
        assert svg.read_text().lstrip().startswith(("<?xml", "<svg")), svg
    n_figures = len(set(re.findall(r"Figure (\d+)[:.]", pdf)))
    assert len(svgs) >= n_figures > 0


def _chromium():
    import os
    import shutil

    path = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if path is None and not os.environ.get("CI"):
        pytest.skip("no Chromium here (.ci/run installs Debian's chromium): the HTML is checked in a browser there")
    assert path, "CI installs Chromium (.ci/run); it is missing"
    return path


def test_a_browser_shows_the_number_of_every_figure_and_table_reference(quick_run, tmp_path):
    # CSS target-counter() numbers references in the PDF only; no browser implements it. The numbers are in the
    # HTML itself: what headless Chromium builds from the file must show each one, equal to its caption's.
    import re
    import subprocess

    out, args = quick_run
    html = out / "Ex1_report_quick.html"
    if not html.is_file():
        assert Ex1_main.main(args + ["--html", "--no-pdf"]) == 0
    dom = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                          "--no-first-run", "--disable-background-networking", "--disable-component-update",
                          "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          html.as_uri()], capture_output=True, text=True, timeout=180).stdout
    assert "</html>" in dom
    captions = dict(re.findall(r'<figure id="([^"]+)".*?<figcaption><span class="num">(Figure \d+)\.</span>', dom,
                               re.S))
    captions.update(re.findall(r'<table id="([^"]+)" class="data[^"]*">\s*<caption><span class="num">(Table \d+)\.',
                               dom))
    captions.update(re.findall(r'<div class="note" id="([^"]+)">\s*<h3 class="note no-toc"><span class="num">(Note \d+)\.',
                               dom))
    refs = re.findall(r'<a class="(?:figref|tabref|noteref)" href="#([^"]+)">([^<]*)</a>', dom)
    assert len(captions) > 40 and len(refs) > 40
    assert [(target, shown) for target, shown in refs if shown != captions.get(target)] == []
    # in an answer's appendix line a run of one kind reads "Tables 14, 15": each number links to its own caption
    grouped = re.findall(r'<a class="(?:figref|tabref|noteref) n" href="#([^"]+)">([^<]*)</a>', dom)
    assert grouped and [(t, shown) for t, shown in grouped if shown != captions.get(t, "").split(" ")[-1]] == []
    numbers = [int(n) for n in re.findall(r'<span class="num">Figure (\d+)\.', dom)]
    assert numbers == list(range(1, len(numbers) + 1))   # in the order a reader meets them


@pytest.mark.parametrize("qid", list(experiments.QUESTIONS))
def test_every_question_keeps_the_one_contract(quick_run, data_dir, qid):
    # From an id a reader finds everything by that name: the experiment function, the section that turns its
    # answer into a page, the template, the stored tables; and its runs are named by role, one name a run.
    from report import sections
    from report.sections.common import _SECTIONS

    out, _ = quick_run
    q = experiments.QUESTIONS[qid]
    assert q.id == qid and callable(q.fn) and q.title
    assert qid in _SECTIONS, f"no report section for {qid}"
    template = Path(sections.__file__).parents[1] / "templates" / "sections" / f"{qid}.html.j2"
    assert template.is_file(), template
    ctx = Ex1_main.make_context("quick", str(data_dir), str(out))
    answer = experiments.stored(q, ctx)
    # Its tables are named and written (huji.3.3's are empty where no candidate of the quick sweeps qualified).
    assert answer.result.tables, qid
    assert {p.stem for p in (out / "tables" / "quick" / qid).glob("*.csv")} == set(answer.result.tables)
    roles = [(r["label"], r["config"]["seed"]) for r in answer.record["runs"]]
    assert all(label for label, _ in roles) and len(set(roles)) == len(roles), roles
    assert isinstance(sections.build(answer), dict)


def test_the_quick_report_passes_the_graders_form_checks(quick_run, data_dir):
    import grader

    out, _ = quick_run
    ctx = Ex1_main.make_context("quick", str(data_dir), str(out))
    answers = [experiments.stored(q, ctx) for q in experiments.select(None)]
    html, figs = grader.render_recording_figures(answers, ctx)
    assert len(figs) >= 10   # the recording works: every answer with a figure drew one
    assert not grader.forbidden_text(pdf_text(out / "Ex1_report_quick.pdf"))
    assert not grader.flat_panels(figs)
    assert not grader.repeated_prose(grader.body_paragraphs(html))
    assert not grader.glued_sentences(grader.body_paragraphs(html, min_words=0))
    assert not grader.blank_pages(grader.page_fill(html))
