"""The full sample in docs/: its stored answers render the full-profile report with no data and no training, and
that report passes the grader's form checks on the real numbers."""

import shutil
from pathlib import Path

import pytest

import Ex1_main
import experiments
import grader
from report.evidence import RESULTS

DOCS = Path(__file__).resolve().parents[1] / "docs"
# Shown in every run's summary until a full run is exported (python -m report.sample OUT docs).
pytestmark = pytest.mark.skipif(not (DOCS / RESULTS / "store").is_dir(),
                                reason="no full sample exported to docs/results yet (python -m report.sample OUT docs)")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "results"
    shutil.copytree(DOCS / RESULTS, out)
    # 'auto' reads the precision the sample was computed in on any CPU (Ex1_main.chosen_precision)
    ctx = Ex1_main.make_context("full", None, str(out))
    answers = [experiments.stored(q, ctx) for q in experiments.select(None)]   # NotStored: the sample lacks one
    html, figs = grader.render_recording_figures(answers, ctx)
    return answers, html, figs


def test_the_sample_answers_every_question_in_the_full_profile(sample):
    answers, html, _ = sample
    assert [a.question.id for a in answers] == list(experiments.QUESTIONS)
    import re

    text = re.sub(r"<style\b.*?</style>", " ", html, flags=re.S)   # the stylesheet names the quick profile's marker
    assert "quick profile" not in text.lower() and '<body class="">' in text


def test_the_full_sample_passes_the_graders_form_checks(sample):
    _, html, figs = sample
    import html as html_mod
    import re

    text = html_mod.unescape(re.sub(r"<(style|svg|script)\b.*?</\1>|<[^>]+>", " ", html, flags=re.S))
    assert not grader.forbidden_text(text)
    assert not grader.flat_panels(figs)
    assert not grader.repeated_prose(grader.body_paragraphs(html))
    assert not grader.glued_sentences(grader.body_paragraphs(html, min_words=0))
    assert not grader.blank_pages(grader.page_fill(html))


def test_question_4_compares_only_runs_read_at_one_step(sample):
    answers, _, _ = sample
    q4 = next(a for a in answers if a.question.id == "huji.4")
    summary = q4.result.tables["summary"]
    assert summary["read_step"].nunique() == 1 and (summary["read_step"] == summary["read_step_min"]).all()


def test_the_report_names_the_machine_its_answers_record_not_the_one_rendering_them(sample):
    """A TA renders a student's results on another machine: the cover and appendix F name the one that trained."""
    import html as html_mod

    from report import build

    answers, html, _ = sample
    cover = html_mod.unescape(html.split("<th>trained on</th><td>", 1)[1].split("</td>", 1)[0])
    assert cover.startswith(build.computed_on(answers)[0])

    def on(cpu, a):
        m = {"cpu": cpu, "logical_cores": 2, "simd": ["avx2", "amx_bf16"], "kernels": "oneDNN kernels",
             "platform": "Linux 6, Python 3.11", "tensorflow": "2.99", "keras": "3.99"}
        return type(a)(a.question, a.result, {**a.record, "machine": m})

    one = [on("Test CPU 9000", a) for a in answers]
    assert build.computed_on(one) == ["Test CPU 9000, 2 logical cores, native bfloat16; TensorFlow 2.99, Keras 3.99"]
    assert "avx2 amx_bf16, oneDNN kernels; Linux 6, Python 3.11" in build.computed_on(one, full=True)[0]
    two = [on("Test CPU 9000" if a.question.sheet == "huji" else "Other CPU", a) for a in answers]
    lines = build.computed_on(two)
    assert len(lines) == 2 and "(HUJI 1.2, HUJI 2," in lines[0] and "Bonn P4)" in lines[1]


def test_the_runs_table_says_how_many_runs_trained_together(sample):
    """Its last column, "with", is filled from each run's record (it once read a field the records no longer have)."""
    import re

    from ex1.runner import trained_with
    from report import appendix

    answers, html, _ = sample
    runs, _ = appendix.distinct_runs(answers)
    table = html.split('class="data runs"', 1)[1].split("</table>", 1)[0]
    shown = dict(re.findall(r'<tr id="run-(R\d+)">.*?<td class="r">(\d*)</td></tr>', table, flags=re.S))
    expected = {r["rid"]: str(trained_with(r)) if trained_with(r) > 1 else "" for r in runs}
    assert shown == expected and sum(bool(v) for v in shown.values()) > 50   # the sweeps and Q4's packs


def test_the_code_map_names_every_answer_and_plot_function_of_ex1_main(sample):
    """A plot function names its question only through the table function it calls: it is listed all the same."""
    import ast

    from report import appendix

    answers, _, _ = sample
    root = DOCS.parent
    public = [n.name for n in ast.parse((root / "Ex1_main.py").read_text()).body
              if isinstance(n, ast.FunctionDef) and n.name.startswith(("q", "tuebingen_", "bonn_"))]
    listed = {f for row in appendix.code_map(answers, root) for f in row["main"]}
    assert "q1_2_accuracy_plot" in public and "bonn_p2_loss_plot" in public
    assert sorted(set(public) - listed) == []


def test_every_figure_has_its_function_in_ex1_main_named_in_the_code_map(sample, tmp_path):
    """The HUJI sheet asks for a function for every plot of the report: one per figure, returning the very
    drawing of the PDF, and the code map gives each function's figure number."""
    import re

    from report import appendix, figures, sections

    answers, html, _ = sample
    plots = appendix.ex1_main_figures(DOCS.parent / "Ex1_main.py")
    printed = re.findall(r'<figure id="([^"]+)"', html)
    drawn = {f.id: f for a in answers for f in sections.figures_in(sections.build(a)) if f.id in printed}
    assert sorted(plots.values()) == sorted(printed)          # each figure once, and no function for none
    codemap = html.split('class="data codemap"', 1)[1].split("</table>", 1)[0]
    for fn, fid in plots.items():
        assert f'<code>{fn}</code> (<a class="figref" href="#{fid}">Figure ' in codemap, fn
    out = tmp_path / "results"
    shutil.copytree(DOCS / RESULTS, out)
    for fn in ("q1_2_errors_plot", "q5_3_pairs_plot", "bonn_p4_confusion_plot"):
        assert figures.to_svg(getattr(Ex1_main, fn)(out=str(out))) == drawn[plots[fn]].svg, fn


def test_a_ta_lists_the_sample_as_stored_on_any_cpu_without_the_data(tmp_path):
    """The sample was computed in mixed bfloat16 (an AVX-512 machine's choice); on a machine whose own choice is
    float32 the listing still finds every answer, and says which precision it reads and how to compute its own."""
    import os
    import subprocess
    import sys

    from ex1.machine import resolve_precision

    out = tmp_path / "results"
    shutil.copytree(DOCS / RESULTS, out)
    env = {k: v for k, v in os.environ.items() if k != "EX1_DATA_DIR"}
    p = subprocess.run([sys.executable, str(DOCS.parent / "Ex1_main.py"), "--list", "--out", str(out)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    n = len(experiments.QUESTIONS)
    assert f"total        {n}/{n}" in p.stdout and "(full profile, mixed_bfloat16)" in p.stdout
    mine = resolve_precision("auto")
    noted = [line for line in p.stdout.splitlines() if line.startswith("precision: ")]
    assert noted == ([] if mine == "mixed_bfloat16" else
                     [f"precision: mixed_bfloat16, the one the stored answers were computed in (this machine's own "
                      f"choice, {mine}, would compute every answer again: --precision {mine})"])
