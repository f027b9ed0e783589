"""What a grader reads at a glance: legends outside plots, points on short series, typeset formulas in the question
boxes, and templates that choose no sentence by a number."""

import numpy as np
import pandas as pd
import pytest

from report import figures


def history(points: int, top: float = 0.99) -> pd.DataFrame:
    steps = np.linspace(0, 20000, points).astype(int)
    acc = top - (top - 0.1) * np.exp(-steps / 800)
    return pd.DataFrame({"step": steps, "epoch": steps / 1200, "train_accuracy": acc, "heldout_accuracy": acc - 0.005,
                         "train_loss": 1 - acc + 0.01, "heldout_loss": 1 - acc + 0.02})


def line_figures(h: dict[str, pd.DataFrame]):
    return [figures.accuracy_curves(h), figures.loss_curves(h), figures.error_curves(h, (15000,)),
            figures.accuracy_against(h, "step", "training step")]


@pytest.mark.parametrize("points", [5, 41])
def test_legends_sit_outside_every_plot(points):
    for fig in line_figures({"a": history(points), "b": history(points, 0.97)}):
        assert all(ax.get_legend() is None for ax in fig.axes), fig.axes[0].get_ylabel()
        assert len(fig.legends) == 1


def test_series_of_fewer_than_ten_points_show_their_points():
    for points, marked in ((5, True), (41, False)):
        fig = figures.loss_curves({"a": history(points)})
        assert all((line.get_marker() not in ("None", None, "")) == marked for line in fig.axes[0].get_lines())


def test_the_whole_run_panel_spreads_the_rise_on_a_log_axis_only_where_evaluations_show_it():
    dense = figures.accuracy_curves({"a": history(201)}, zoom_from=97.0)    # first evaluation at 0.5% of the run
    assert len(dense.axes) == 2 and dense.axes[0].get_xscale() == "symlog" and dense.axes[1].get_xscale() == "linear"
    sparse = figures.accuracy_curves({"a": history(41)}, zoom_from=97.0)    # at 2.5%: the rise is one segment
    assert len(sparse.axes) == 2 and sparse.axes[0].get_xscale() == "linear"


def test_the_question_boxes_typeset_the_sheets_formulas():
    import experiments
    from report import prompts

    for qid in prompts.FORMULAS:   # raises if a docstring no longer holds the ASCII it replaces
        html = str(prompts.typeset(qid, experiments.QUESTIONS[qid].prompt))
        assert '<img class="math"' in html
    import re

    text = re.sub(r"<[^>]+>", "", str(prompts.typeset("tuebingen.2", experiments.QUESTIONS["tuebingen.2"].prompt)))
    assert "sum_{k,l}" not in text and "dL/dK_mn" not in text and "V the input image" in text


def test_templates_hold_no_numeric_thresholds():
    """A sentence chosen by a number is chosen in Python (report/sections), where a test can flip it."""
    import re
    from pathlib import Path

    templates = Path(__file__).resolve().parents[1] / "report" / "templates" / "sections"
    found = [f"{p.name}: {line.strip()[:80]}" for p in sorted(templates.glob("*.j2"))
             for line in p.read_text(encoding="utf-8").splitlines() if re.search(r"[<>] *[0-9]", line)
             or re.search(r"\{%-? *(if|elif)[^%]*[<>]", line)]   # a comparison of two numbers is a threshold too
    assert found == []


def test_running_header_cuts_a_long_question_title_at_a_word():
    from report.build import RUNNING_HEADER_CHARS, running_title

    sheet = "Bonn, Deep Learning for Visual Recognition, Assignment 4"
    long = "Programming 2  The chosen learning rate: training loss and test accuracy"
    cut = running_title(long, sheet)
    assert cut.endswith("…") and long.startswith(cut[:-1]) and long[len(cut) - 1] == " "
    assert len(sheet) + len(cut) <= RUNNING_HEADER_CHARS
    assert running_title("3.1  Shallow network", sheet) == "3.1  Shallow network"


def test_questions_are_named_as_the_sheets_name_them_not_by_internal_id():
    from report.build import question_name

    assert question_name("bonn.p4") == "Bonn Programming 4" and question_name("bonn.p4", short=True) == "Bonn P4"
    assert question_name("huji.3.1") == "HUJI 3.1" and question_name("huji.t3", short=True) == "HUJI T3"
    assert question_name("tuebingen.1") == "Tübingen 1" and question_name("eth.2") == "ETH 2"
