"""HUJI 5 (experiments.huji_sum, report.sections.huji_sum): the two strategies' verdicts follow the numbers."""

import pandas as pd

from experiments.registry import QUESTIONS, Answer
from ex1.result import Result
from report import sections
from tests.test_sections import history


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
    assert "cannot be told apart" in noisy["verdict"] and "95% interval" in noisy["verdict"]
    assert "McNemar" not in noisy["verdict"]   # the test is named in the report's conventions, not in the body
    assert steady["seeds_t"] is not None and len(steady["seeds_t"].rows) == 3


def test_pair_errors_and_overfitting_sentences_follow_their_intervals():
    above = sections.build(answer_5_3(0.97, 0.98, both=0.9850))["pair_errors"]      # p² = 98.01%
    level = sections.build(answer_5_3(0.97, 0.98, both=0.9805))["pair_errors"]
    below = sections.build(answer_5_3(0.97, 0.98, both=0.9750))["pair_errors"]
    assert "positively correlated" in above and "independent errors" in level and "negatively correlated" in below
    more = sections.build(answer_5_3(0.97, 0.98, gap_sum=0.02))["overfit"]
    same = sections.build(answer_5_3(0.97, 0.98, gap_sum=0.001))["overfit"]
    assert "the sum classifier overfits more" in more and "not distinguishable" in same
