"""The grader's form checks (tests/grader.py) catch what they are for, and pass what they should."""

import numpy as np
from matplotlib.figure import Figure

import grader


def figure(y, log=False):
    fig = Figure()
    ax = fig.subplots()
    ax.plot(np.arange(len(y)), y, label="test accuracy")
    if log:
        ax.set_yscale("log")
    return fig


def test_a_curve_that_hugs_the_top_of_its_panel_is_flat_and_a_spread_one_is_not():
    rise = np.r_[10, 60, 90, np.full(47, 99.0) + np.linspace(0, 0.9, 47)]
    assert grader.flat_panels([("whole run", figure(rise))])
    error = 100 - rise   # the same run as error on a log axis spreads over the panel
    assert not grader.flat_panels([("as error", figure(error, log=True))])
    assert not grader.flat_panels([("few points", figure([10, 99, 99.5, 99.6]))])


def test_machine_paths_placeholders_and_build_instructions_are_found():
    assert grader.forbidden_text("data from /work/shared/datasets/mnist.npz")
    assert grader.forbidden_text("Students' names go here: run with --names")
    assert grader.forbidden_text("PARTIAL REPORT: made with --only; it leaves out 1 question: bonn.p4. Run python "
                                 "Ex1_main.py --all for the whole report.")
    assert not grader.forbidden_text("the tables as the last run of python Ex1_main.py computed them")
    assert grader.forbidden_text("accuracy nan%")
    assert grader.forbidden_text("a test accuracy of None, 3 seeds") and grader.forbidden_text("(None)")
    assert not grader.forbidden_text("None of them improves the full-size network's ratio")
    assert grader.forbidden_text(r"written to C:\Users\ada\out")
    assert not grader.forbidden_text("MNIST (60,000 training images), 99.31% test accuracy; 1/2 of the units")
    assert grader.forbidden_text("the full profile stays within its time budget")
    assert grader.forbidden_text("below the target of 95%")
    assert not grader.forbidden_text("every seed above 95% on the validation images")


def test_sentences_run_together_are_found_and_code_names_are_not():
    assert grader.glued_sentences(["overfitting is not what limits it.The other networks"])
    assert grader.glued_sentences(["it scores 95.10%.Without dropout"])
    assert not grader.glued_sentences(["agreement with tf.GradientTape (largest error 1e-7). The next one"])
    assert not grader.glued_sentences(["95.10% (n=2). Without dropout, e.g. here"])


def test_a_paragraph_said_twice_is_found():
    a = " ".join(f"word{i}" for i in range(80))
    b = a.replace("word79", "other")
    c = " ".join(f"else{i}" for i in range(80))
    assert grader.repeated_prose([a, b]) and not grader.repeated_prose([a, c])


def test_only_a_mostly_blank_page_inside_a_part_counts():
    fills = [grader.PageFill(1, 0.9, False), grader.PageFill(2, 0.3, True), grader.PageFill(3, 0.2, False),
             grader.PageFill(4, 0.8, False), grader.PageFill(5, 0.1, False)]
    assert grader.blank_pages(fills) == ["page 3: 80% blank"]   # page 2 ends a part, page 5 ends the report
