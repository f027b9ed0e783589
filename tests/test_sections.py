"""Report sentences that compare numbers are chosen by the numbers: flip a stored result, the text flips."""

import pandas as pd

from experiments.registry import QUESTIONS, Answer
from ex1.result import Result
from report import sections


def history(final_test: float, final_train: float) -> pd.DataFrame:
    steps = [0, 500, 1000]
    return pd.DataFrame({"step": steps, "epoch": [0, 0.4, 0.8], "train_loss": [2.3, 0.1, 0.05],
                         "train_accuracy": [0.1, 0.97, final_train], "test_loss": [2.3, 0.1, 0.06],
                         "test_accuracy": [0.1, 0.969, final_test], "wall_s": [1, 2, 3], "train_s": [0, 1, 2],
                         "learning_rate": [1e-4] * 3})


def answer_1_2(final_test: float, final_train: float) -> Answer:
    h = history(final_test, final_train)
    final = pd.DataFrame([{"step": 1000, "epoch": 0.8, "train_accuracy": final_train, "test_accuracy": final_test,
                           "train_loss": 0.05, "test_loss": 0.06, "best_test_accuracy": h["test_accuracy"].max(),
                           "best_step": 1000}])
    facts = {"sheet_steps": 20000, "sheet_target": 0.97, "tutorial_accuracy": 0.992, "train_examples": 60000,
             "test_examples": 10000, "train_eval_examples": 10000}
    run = {"label": "HUJI network", "config": {"eval_every": 500}}
    return Answer(QUESTIONS["huji.1.2"], Result({"history": h, "final": final}, facts), {"runs": [run]})


def test_target_sentence_follows_the_accuracy():
    good = sections.build(answer_1_2(0.993, 0.995))
    bad = sections.build(answer_1_2(0.95, 0.96))
    assert good["meets_sheet"] and good["meets_tutorial"]
    assert not bad["meets_sheet"] and not bad["meets_tutorial"]


def test_generalisation_gap_sentence_follows_the_gap():
    small = sections.build(answer_1_2(0.990, 0.991))["gap_sentence"]
    large = sections.build(answer_1_2(0.950, 0.999))["gap_sentence"]
    inverted = sections.build(answer_1_2(0.999, 0.950))["gap_sentence"]
    assert "no measurable generalisation gap" in small
    assert "Training accuracy ends 4.90 points above" in large
    assert "Test accuracy ends 4.90 points above" in inverted


def answer_5_3(sum_acc: float, digits_sum_acc: float, both: float = 0.98, gap_sum: float = 0.0,
               disagree: int = 100) -> Answer:
    """`disagree`: seen pairs on top of the accuracy difference that one model gets right and the other wrong,
    as many each way."""
    from experiments.huji_sum import HELD, SEEN

    digits = {"digit_accuracy": 0.99, "both_digits_accuracy": both, "digit_accuracy_squared": 0.9801}
    ev = pd.DataFrame([
        {"model": "sum classifier", "split": SEEN, "pairs": 10000, "sum_accuracy": sum_acc},
        {"model": "sum classifier", "split": HELD, "pairs": 2000, "sum_accuracy": sum_acc - 0.1},
        {"model": "two-digit network", "split": SEEN, "pairs": 10000, "sum_accuracy": digits_sum_acc, **digits},
        {"model": "two-digit network", "split": HELD, "pairs": 2000, "sum_accuracy": digits_sum_acc, **digits},
    ])
    curves = pd.concat([history(sum_acc, sum_acc + gap_sum).assign(model="sum classifier"),
                        history(digits_sum_acc, digits_sum_acc).assign(model="two-digit network")])
    runs = [{"label": m, "train_examples": 60000, "config": {"train_eval_size": 10000, "test_size": None}}
            for m in ("sum classifier", "two-digit network")]
    n = 10000
    only_sum = round(max(0.0, sum_acc - digits_sum_acc) * n) + disagree
    only_digits = round(max(0.0, digits_sum_acc - sum_acc) * n) + disagree
    both_right = round(sum_acc * n) - only_sum
    patterns = pd.DataFrame({"sum classifier": [True, True, False, False],
                             "two-digit network": [True, False, True, False],
                             "pairs": [both_right, only_sum, only_digits, n - both_right - only_sum - only_digits],
                             "split": SEEN})
    return Answer(QUESTIONS["huji.5.3"], Result({"evaluation": ev, "curves": curves, "patterns": patterns},
                                                {"held_out": [[0, 9]], "test_pairs": 10000}), {"runs": runs})


def test_which_strategy_wins_is_decided_by_the_table():
    assert "the two-digit network works better" in sections.build(answer_5_3(0.90, 0.98))["verdict"]
    assert "the sum classifier works better" in sections.build(answer_5_3(0.98, 0.90))["verdict"]
    assert "cannot be told apart" in sections.build(answer_5_3(0.981, 0.980))["verdict"]
    flipped = sections.build(answer_5_3(0.90, 0.98))
    assert flipped["digits_generalise"] and not flipped["sum_generalises"]


def test_the_two_strategies_are_compared_pair_by_pair():
    # The same 0.6-point difference on the same 10,000 pairs: a finding when the two models disagree on few
    # pairs, not when they disagree on 2,060 (an unpaired binomial interval would say the same for both).
    few = sections.build(answer_5_3(0.970, 0.976, disagree=0))["verdict"]
    many = sections.build(answer_5_3(0.970, 0.976, disagree=1000))["verdict"]
    assert "the two-digit network works better" in few and "0 are the sum classifier's and 60" in few
    assert "cannot be told apart" in many and "1,000 are the sum classifier's and 1,060" in many


def test_over_several_seeds_welch_on_the_seeds_decides_not_the_first_seeds_pairs():
    from experiments.huji_sum import HELD, SEEN

    def with_seeds(sum_accs, digit_accs):
        a = answer_5_3(sum_accs[0], digit_accs[0], disagree=0)   # seed 0 alone: a clear paired difference
        a.result.tables["by_seed"] = pd.DataFrame(
            [{"model": m, "split": sp, "seed": sd, "sum_accuracy": acc}
             for m, accs in (("sum classifier", sum_accs), ("two-digit network", digit_accs))
             for sd, acc in enumerate(accs) for sp in (SEEN, HELD)])
        return sections.build(a)

    steady = with_seeds([0.970, 0.971, 0.969], [0.976, 0.977, 0.975])
    noisy = with_seeds([0.970, 0.985, 0.960], [0.976, 0.962, 0.981])
    assert "the two-digit network works better" in steady["verdict"] and "3 seeds each" in steady["verdict"]
    assert "cannot be told apart" in noisy["verdict"] and "McNemar" in noisy["verdict"]
    assert steady["seeds_t"] is not None and len(steady["seeds_t"].rows) == 3


def test_pair_errors_and_overfitting_sentences_follow_their_intervals():
    above = sections.build(answer_5_3(0.97, 0.98, both=0.9850))["pair_errors"]      # p² = 98.01%
    level = sections.build(answer_5_3(0.97, 0.98, both=0.9805))["pair_errors"]
    below = sections.build(answer_5_3(0.97, 0.98, both=0.9750))["pair_errors"]
    assert "positively correlated" in above and "independent errors" in level and "negatively correlated" in below
    more = sections.build(answer_5_3(0.97, 0.98, gap_sum=0.02))["overfit"]
    same = sections.build(answer_5_3(0.97, 0.98, gap_sum=0.001))["overfit"]
    assert "the sum classifier overfits more" in more and "not distinguishable" in same


def test_bonn_rule_picks_the_lowest_recent_validation_error_and_never_a_diverged_rate():
    from types import SimpleNamespace

    from experiments.bonn_practical import selection

    def run(errors, loss=0.1):
        h = pd.DataFrame({"step": range(len(errors)), "test_accuracy": [1 - e for e in errors],
                          "train_loss": [loss] * len(errors), "test_loss": [loss] * len(errors)})
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


def answer_bonn_p3(reg_tests: list[float], base_tests: list[float]) -> Answer:
    rows = [{"regularisation": r, "seed": i, "test_accuracy": a, "train_accuracy": 0.995, "test_loss": 0.03,
             "train_loss": 0.02, "train_seconds": 1.0}
            for r, accs in (("none", base_tests), ("dropout + weight decay", reg_tests)) for i, a in enumerate(accs)]
    per_seed = pd.DataFrame(rows)
    summary = (per_seed.groupby("regularisation", sort=False)
               .agg(n=("seed", "count"), test_mean=("test_accuracy", "mean"), test_std=("test_accuracy", "std"),
                    train_mean=("train_accuracy", "mean"), train_std=("train_accuracy", "std")).reset_index())
    curves = pd.concat([history(0.99, 0.99).assign(run="none"),
                        history(0.99, 0.99).assign(run="dropout + weight decay")])
    facts = {"chosen": 0.01, "seeds": [0, 1, 2], "weight_decay": 5e-4,
             "dropout": {"conv_dropout": 0.25, "dense_dropout": 0.5}}
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


def test_welch_matches_scipy_and_its_verdict_follows_the_spread():
    import numpy as np
    import pytest
    from scipy import stats as sp

    from ex1.stats import contrast, welch

    for a, b in (([0.985, 0.986, 0.987], [0.992, 0.993, 0.994]), ([0.985, 0.989, 0.993], [0.986, 0.990, 0.994]),
                 ([0.97, 0.98, 0.99], [0.9905, 0.9910, 0.9915])):
        d = welch(np.mean(a), np.std(a, ddof=1), 3, np.mean(b), np.std(b, ddof=1), 3)
        ref = sp.ttest_ind(b, a, equal_var=False)
        assert d.p == pytest.approx(ref.pvalue) and d.df == pytest.approx(ref.df)
        two = contrast([(1, np.mean(b), np.std(b, ddof=1), 3), (-1, np.mean(a), np.std(a, ddof=1), 3)])
        assert (two.diff, two.se, two.df, two.p) == pytest.approx((d.diff, d.se, d.df, d.p))
        assert d.significant == (d.low > 0 or d.high < 0) == (ref.pvalue < 0.05)
    # The same difference of means is a finding with a small spread and noise with a large one; two standard
    # errors (the old rule) would call the third case significant, Welch's 2.0 degrees of freedom do not.
    tight = welch(0.980, 0.001, 3, 0.985, 0.001, 3)
    wide = welch(0.980, 0.004, 3, 0.985, 0.004, 3)
    few_df = welch(0.980, 0.0001, 3, 0.9870, 0.0030, 3)
    assert tight.significant and not wide.significant
    assert abs(few_df.diff) > 2 * few_df.se and not few_df.significant
    assert not welch(0.98, float("nan"), 1, 0.99, 0.001, 3).measurable


def test_a_paired_comparison_uses_only_the_examples_the_two_classifiers_disagree_on():
    import numpy as np
    import pytest
    from scipy import stats as sp

    from ex1.stats import right_wrong

    rng = np.random.default_rng(0)
    a = rng.random(5000) < 0.97
    b = np.where(rng.random(5000) < 0.9, a, rng.random(5000) < 0.99)   # mostly the same right/wrong as a
    def paired(a, b):
        from ex1.stats import paired
        return paired(right_wrong({"a": a, "b": b}, "n"), "a", "b", "n")

    d = paired(a, b)
    assert d.diff == pytest.approx(b.mean() - a.mean())
    # the standard error of the mean per-example difference b - a (population variance over the n examples)
    assert d.se == pytest.approx(np.std(b.astype(float) - a, ddof=0) / np.sqrt(len(a)))
    assert d.p == pytest.approx(sp.binomtest(int((b & ~a).sum()), int((a != b).sum()), 0.5).pvalue)
    # Correlated errors: the paired interval is narrower than the unpaired binomial one on the same counts.
    unpaired = np.sqrt(a.mean() * (1 - a.mean()) / len(a) + b.mean() * (1 - b.mean()) / len(b))
    assert d.se < unpaired
    assert not paired(a, a).significant and paired(a, a).p == 1.0
    # The verdict follows the exact test; where the interval disagrees (10 against 21 discordant pairs: p = 0.07,
    # yet the normal-approximation interval excludes zero) the text says which one decides.
    from ex1.stats import Paired
    near = Paired(10, 21, 1000)
    assert not near.significant and near.low > 0 and "the verdict follows the test" in near.points()
    assert "the verdict follows the test" not in Paired(10, 40, 1000).points()


def test_dropout_against_size_compares_each_ones_gain_over_its_own_baseline():
    from types import SimpleNamespace as R

    def sentence(size, size_base, drop, drop_base, std=0.005):
        return sections.drop_vs_size_sentence(*(R(test_mean=m, test_std=std, n=3) for m in (size, size_base, drop,
                                                                                           drop_base)), 1000, 0.99)

    assert "that dropout helps more" in sentence(0.80, 0.78, 0.85, 0.78)
    assert "that shrinking helps more" in sentence(0.80, 0.75, 0.81, 0.80)
    assert "neither can be said" in sentence(0.80, 0.78, 0.81, 0.78, std=0.03)
    # Dropout scores higher than the smaller network only because its table reads the runs later, where the
    # same network without dropout scores higher too: the gains are equal, so neither helps more.
    same_gain = sentence(0.80, 0.78, 0.84, 0.82)
    assert "neither can be said" in same_gain and "+2.00 points over it after 1,000 steps" in same_gain


def test_a_best_ratio_from_underfitting_says_so():
    from types import SimpleNamespace as R

    from report.sections.huji import underfit_sentence

    assert "underfits" in underfit_sentence(R(train_mean=0.83), 0.99)
    assert underfit_sentence(R(train_mean=1.0), 0.99) == ""


def test_signed_numbers_never_print_a_negative_zero():
    from ex1.stats import signed, welch

    assert signed(-0.001) == "0.00" and signed(0.004) == "0.00"
    assert signed(-0.006) == "\u22120.01" and signed(0.42) == "+0.42" and signed(-1.26, 1) == "\u22121.3"
    tiny = welch(0.98800, 0.001, 3, 0.98799, 0.001, 3)
    assert "\u22120.00" not in tiny.points() and "-0.00" not in tiny.points() and "+0.00" not in tiny.points()


def test_stored_shapes_rules_and_formulas_are_typeset():
    from report.sections.common import pm, shape, tex_grouped
    from report.sections.eth import typeset

    assert shape("24 x 24 x 32") == "24 × 24 × 32"
    assert shape("4 * 4 * 64 = 1024") == "4 × 4 × 64 = 1,024" and shape("28 - 5 + 1 = 24") == "28 − 5 + 1 = 24"
    assert tex_grouped(r"1024\cdot1024 + 1024") == r"1{,}024\cdot1{,}024 + 1{,}024"
    assert tex_grouped("N_{1024}") == "N_{1024}"   # an index is not a number to group
    assert typeset("fully connected, reading 9K m^2 (m-p+1)^2") == "fully connected, reading 9K m² (m−p+1)²"
    assert pm(0.9, 0.01, 3) == "90.00 ± 1.00 (n=3)" and pm(0.9, 0.01, None) == "90.00 ± 1.00"


def test_a_curve_that_is_not_flat_says_which_way_it_moves():
    from report.sections.bonn import trend_sentence

    assert "still rise" in trend_sentence([0.70, 0.71, 0.72], 0.72, 60)
    falling = trend_sentence([0.724, 0.7201, 0.7163], 0.7429, 44)
    assert "They fall" in falling and "2.66 points below the best" in falling and "epoch 44" in falling
    assert "move up and down" in trend_sentence([0.72, 0.71, 0.715], 0.74, 40)


def test_the_gap_between_validation_and_test_is_weighed_against_the_margin():
    from report.sections.huji import _validation_gap_sentence

    wide = pd.DataFrame({"validation_accuracy": [0.962, 0.960, 0.958], "test_accuracy": [0.948, 0.950, 0.949]})
    narrow = pd.DataFrame({"validation_accuracy": [0.962, 0.960, 0.958], "test_accuracy": [0.958, 0.957, 0.959]})
    assert "does not carry over" in _validation_gap_sentence(wide, 0.95)
    assert "higher for 3 of 3 seeds" in _validation_gap_sentence(wide, 0.95)
    assert "does not carry over" not in _validation_gap_sentence(narrow, 0.95)
    assert "higher for 2 of 3 seeds" in _validation_gap_sentence(narrow, 0.95)


def test_the_learning_rate_choice_is_weighed_pair_by_pair_against_the_runner_up():
    from ex1.stats import Paired
    from report.sections.bonn import rate_verdict

    assert "not told apart" in rate_verdict(Paired(30, 25, 5000), "0.03")           # 5 pairs either way: noise
    assert "in the rule's order" in rate_verdict(Paired(90, 30, 5000), "0.03")      # the chosen rate right more often
    assert "runner-up is the better one" in rate_verdict(Paired(30, 90, 5000), "0.03")


def test_the_cifar_answer_is_weighed_against_the_tutorial_with_its_sampling_error():
    from report.sections.bonn import tutorial_sentence

    assert tutorial_sentence(0.6997, 0.70, 10000).startswith("about the same as")   # 0.03 points: noise
    above = tutorial_sentence(0.7252, 0.70, 10000)
    assert above.startswith("above") and "2.52 points from 70%" in above
    assert tutorial_sentence(0.6800, 0.70, 10000).startswith("below")


def test_the_step_cost_is_set_against_the_arithmetic_not_explained_by_it():
    from report.sections.huji import _step_cost_sentence

    slower = _step_cost_sentence({"shallow": 58240, "deep": 62992}, 1.875)   # a deep step takes 1.875 shallow ones
    assert "1.08 times as many" in slower and "1.88 times as long" in slower and "not from arithmetic" in slower
    assert "times as long" not in _step_cost_sentence({"shallow": 58240, "deep": 62992}, 0.9)
