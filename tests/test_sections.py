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
    run = {"config": {"eval_every": 500}}
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


def answer_5_3(sum_acc: float, digits_sum_acc: float) -> Answer:
    ev = pd.DataFrame([
        {"model": "sum classifier", "split": "test pairs", "pairs": 10000, "sum_accuracy": sum_acc},
        {"model": "sum classifier", "split": "held-out combinations", "pairs": 2000, "sum_accuracy": sum_acc - 0.1},
        {"model": "two-digit network", "split": "test pairs", "pairs": 10000, "sum_accuracy": digits_sum_acc,
         "digit_accuracy": 0.99, "both_digits_accuracy": 0.98, "digit_accuracy_squared": 0.9801},
        {"model": "two-digit network", "split": "held-out combinations", "pairs": 2000,
         "sum_accuracy": digits_sum_acc, "digit_accuracy": 0.99, "both_digits_accuracy": 0.98,
         "digit_accuracy_squared": 0.9801},
    ])
    curves = pd.concat([history(sum_acc, sum_acc).assign(model="sum classifier"),
                        history(digits_sum_acc, digits_sum_acc).assign(model="two-digit network")])
    return Answer(QUESTIONS["huji.5.3"], Result({"evaluation": ev, "curves": curves}, {"held_out": [[0, 9]]}), {})


def test_which_strategy_wins_is_decided_by_the_table():
    assert "the two-digit network works better" in sections.build(answer_5_3(0.90, 0.98))["verdict"]
    assert "the sum classifier works better" in sections.build(answer_5_3(0.98, 0.90))["verdict"]
    assert "are level" in sections.build(answer_5_3(0.981, 0.980))["verdict"]
    flipped = sections.build(answer_5_3(0.90, 0.98))
    assert flipped["digits_generalise"] and not flipped["sum_generalises"]
