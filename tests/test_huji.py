"""HUJI 1 and 2 (experiments.huji, report.sections.huji): the sentences on the sheet's target and the gap follow the numbers."""

import pandas as pd

from experiments.registry import QUESTIONS, Answer
from ex1.result import Result
from report import sections
from tests.test_sections import history


def answer_1_2(final_test: float, final_train: float) -> Answer:
    h = history(final_test, final_train)
    final = pd.DataFrame([{"step": 1000, "epoch": 0.8, "train_accuracy": final_train, "test_accuracy": final_test,
                           "train_loss": 0.05, "test_loss": 0.06, "best_test_accuracy": h["heldout_accuracy"].max(),
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


def test_the_collapsed_map_of_an_affine_network_is_its_weight_matrix():
    from types import SimpleNamespace

    import numpy as np

    from ex1 import models
    from experiments.huji import collapsed_map

    m = models.create_model("softmax_regression")
    rng = np.random.default_rng(0)
    kernel, bias = rng.normal(size=(784, 10)).astype(np.float32), rng.normal(size=10).astype(np.float32)
    m.get_layer("logits").set_weights([kernel, bias])
    t = collapsed_map(SimpleNamespace(model=lambda precision=None: m), "m")
    assert list(t.columns) == [f"m {d}" for d in range(10)] and t.shape == (784, 10)
    assert np.allclose(t.to_numpy(), kernel, atol=1e-4)


def test_a_network_without_errors_gets_an_empty_table_and_a_sentence_not_a_crash():
    # CI's synthetic digits are easy enough that the quick network gets every test image right (seen 2026-12-02).
    from types import SimpleNamespace

    import numpy as np

    from experiments.huji import misclassified
    from report.build import render_section_text

    y = np.arange(20) % 10
    ds = SimpleNamespace(x_test=np.zeros((20, 28, 28), np.uint8), y_test=y)
    perfect = SimpleNamespace(predict=lambda x: np.eye(10, dtype=np.float32)[y] * 5)
    t = misclassified(perfect, ds)
    assert t.empty and {"true", "predicted", "confidence"} <= set(t.columns)
    one_wrong = SimpleNamespace(predict=lambda x: np.eye(10, dtype=np.float32)[(y + (np.arange(20) == 3)) % 10] * 5)
    assert misclassified(one_wrong, ds)[["index", "true", "predicted"]].values.tolist() == [[3, 3, 4]]

    a = answer_1_2(0.993, 0.995)
    a.record["runs"][0].update(model="huji_cnn", model_kwargs={"dropout": 0.5}, train_examples=60000)
    a.record["runs"][0]["config"].update(optimizer="adam", learning_rate=1e-4, batch_size=50, steps=1000)
    a.result.tables["misclassified"] = t
    a.result.facts["error_images"] = 10000
    assert "classifies every one of the 10,000 test images correctly" in render_section_text(a)
