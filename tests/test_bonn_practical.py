"""Bonn P1-P4 (experiments.bonn_practical, report.sections.bonn_practical): the rate rule, the regularisation verdict, the
trend of a curve and the CIFAR answer against the tutorial follow the numbers."""

import pandas as pd

from experiments.registry import QUESTIONS, Answer
from ex1.result import Result
from report import sections
from tests.test_sections import history


def test_bonn_rule_picks_the_lowest_recent_validation_error_and_never_a_diverged_rate():
    from types import SimpleNamespace

    from experiments.bonn_practical import selection

    def run(errors, loss=0.1):
        h = pd.DataFrame({"step": range(len(errors)), "heldout_accuracy": [1 - e for e in errors],
                          "train_loss": [loss] * len(errors), "heldout_loss": [loss] * len(errors)})
        return SimpleNamespace(history=h, record={"train_seconds": 1.0})

    cfg = SimpleNamespace(select_last=3)
    runs = {0.001: run([0.5, 0.2, 0.10, 0.09, 0.08]),
            0.01: run([0.5, 0.1, 0.03, 0.02, 0.04]),     # the best mean of the last three, not the best final
            0.1: run([0.5, 0.1, 0.05, 0.04, 0.01]),
            1.0: run([0.5, 0.9, 0.0, 0.0, 0.0], loss=float("nan"))}
    t = selection(cfg, runs).set_index("learning_rate")
    assert t["chosen"].sum() == 1 and t.loc[0.01, "chosen"]
    assert not t.loc[1.0, "finite"] and not t.loc[1.0, "chosen"]
    runs[0.1] = run([0.5, 0.1, 0.01, 0.01, 0.01])
    assert selection(cfg, runs).set_index("learning_rate").loc[0.1, "chosen"]


def answer_bonn_p3(reg_tests: list[float], base_tests: list[float], base_last: list[float] | None = None) -> Answer:
    lasts = {"none": base_last or base_tests, "dropout + weight decay": reg_tests}
    rows = [{"regularisation": r, "seed": i, "test_accuracy": a, "test_last_mean": lasts[r][i], "train_accuracy": 0.995,
             "test_loss": 0.03, "train_loss": 0.02, "train_seconds": 1.0}
            for r, accs in (("none", base_tests), ("dropout + weight decay", reg_tests)) for i, a in enumerate(accs)]
    per_seed = pd.DataFrame(rows)
    summary = (per_seed.groupby("regularisation", sort=False)
               .agg(n=("seed", "count"), test_mean=("test_accuracy", "mean"), test_std=("test_accuracy", "std"),
                    last_mean=("test_last_mean", "mean"), last_std=("test_last_mean", "std"),
                    train_mean=("train_accuracy", "mean"), train_std=("train_accuracy", "std")).reset_index())
    curves = pd.concat([history(0.99, 0.99).assign(run="none"),
                        history(0.99, 0.99).assign(run="dropout + weight decay")])
    facts = {"chosen": 0.01, "seeds": [0, 1, 2], "weight_decay": 5e-4,
             "dropout": {"conv_dropout": 0.25, "dense_dropout": 0.5}, "last": 3}
    return Answer(QUESTIONS["bonn.p3"], Result({"summary": summary, "per_seed": per_seed, "curves": curves}, facts),
                  {"runs": [{"label": f"{r}, seed {i}", "config": {"steps": 1000}}
                            for r in ("no regularisation", "dropout + weight decay") for i in range(3)]})


def test_regularisation_verdict_follows_the_seed_spread():
    better = sections.build(answer_bonn_p3([0.992, 0.993, 0.994], [0.985, 0.986, 0.987]))
    noise = sections.build(answer_bonn_p3([0.986, 0.990, 0.994], [0.985, 0.989, 0.993]))
    worse = sections.build(answer_bonn_p3([0.975, 0.976, 0.977], [0.985, 0.986, 0.987]))
    assert better["significant"] and better["diff"] > 0
    assert not noise["significant"]
    assert worse["significant"] and worse["diff"] < 0
    assert "99.30 ± 0.10% (n=3)" == better["reg_pm"]


def test_a_final_dip_is_named_and_the_comparison_uses_the_last_three():
    from report.build import render_section_text

    # seed 0 without regularisation dips at its last evaluation; its last three average where the others are
    text = render_section_text(answer_bonn_p3([0.990, 0.990, 0.991], [0.984, 0.990, 0.991], [0.9895, 0.990, 0.991]))
    assert "seed 0 without regularisation ends at 98.40%, 0.55 points below the mean of its own last 3" in text
    assert "no effect these seeds can measure" in text
    assert "Welch" not in text and "degrees of freedom" not in text


def test_a_curve_that_is_not_flat_says_which_way_it_moves():
    from report.sections.bonn_practical import trend_sentence

    assert "still rise" in trend_sentence([0.70, 0.71, 0.72], 0.72, 60)
    falling = trend_sentence([0.724, 0.7201, 0.7163], 0.7429, 44)
    assert "They fall" in falling and "2.66 points below the best" in falling and "epoch 44" in falling
    assert "move up and down" in trend_sentence([0.72, 0.71, 0.715], 0.74, 40)


def test_the_learning_rate_choice_is_weighed_pair_by_pair_against_the_runner_up():
    from ex1.stats import Paired
    from report.sections.bonn_practical import rate_verdict

    assert "do not tell the two rates apart" in rate_verdict(Paired(30, 25, 5000), "0.03")           # 5 pairs either way: noise
    assert "the chosen rate is the better one there too" in rate_verdict(Paired(90, 30, 5000), "0.03")      # the chosen rate right more often
    assert "runner-up is the better one" in rate_verdict(Paired(30, 90, 5000), "0.03")


def test_the_cifar_answer_is_weighed_against_the_tutorial_with_its_sampling_error():
    from report.sections.bonn_practical import tutorial_sentence

    assert tutorial_sentence(0.6997, 0.70, 10000).startswith("about the same as")   # 0.03 points: noise
    above = tutorial_sentence(0.7252, 0.70, 10000)
    assert above.startswith("above") and "2.52 points from 70%" in above
    assert tutorial_sentence(0.6800, 0.70, 10000).startswith("below")


def test_the_seed_spread_is_weighed_for_the_final_accuracy_and_for_the_last_means_apart():
    from types import SimpleNamespace as R

    from report.sections.bonn_practical import spread_sentence

    # the real full-profile spreads: a dip in one unregularised seed makes only the final accuracies differ
    base = R(test_std=0.0060, last_std=0.0015, n=3)
    reg = R(test_std=0.0007, last_std=0.0007, n=3)
    text = spread_sentence(base, reg, 3, 0)
    assert "0.60 and 0.07 points (p = 0.027: unlikely to be chance)" in text \
        and "0.15 and 0.07 points (p = 0.36: could be chance)" in text
    assert "only the final evaluations differ, from seed 0's dip" in text
    same = R(test_std=0.0010, last_std=0.0010, n=3)
    assert "neither recipe is shown to be steadier" in spread_sentence(same, reg, 3, None)
