"""Question 4: the size variants are read where they first fit their 250 examples, or at the cap, and say which."""

from types import SimpleNamespace

import pandas as pd

from experiments import huji_overfit
from report import sections


def fake_run(train_acc):
    steps = [250 * i for i in range(len(train_acc))]
    h = pd.DataFrame({"step": steps, "train_accuracy": train_acc,
                      "test_accuracy": [a - 0.2 for a in train_acc]})
    return SimpleNamespace(history=h, final=h.iloc[-1], record={"train_seconds": 1.0})


def test_a_size_variant_is_read_at_its_first_evaluation_at_99_percent_or_at_the_cap():
    fits = huji_overfit._fitted(fake_run([0.1, 0.9, 0.995, 1.0, 1.0]), 0.99)
    assert fits["fitted"] and fits["stop_step"] == 500 and abs(fits["test_accuracy"] - 0.795) < 1e-12
    never = huji_overfit._fitted(fake_run([0.1, 0.5, 0.8, 0.9]), 0.99)
    assert not never["fitted"] and never["stop_step"] == 750
    # chance at step 0 never counts, even if a degenerate run started "at" the level
    assert huji_overfit._fitted(fake_run([1.0, 0.5]), 0.99)["stop_step"] == 250


def test_the_table_says_where_each_setting_was_read():
    facts = {"fit": 0.99, "size_cap_steps": 5000}
    # the column header names the level (99% train) and the caption the cap
    assert sections.trained_until(SimpleNamespace(n=3, fitted=3, stop_mean=1333.3), facts) == "step 1,333 (mean)"
    assert sections.trained_until(SimpleNamespace(n=3, fitted=0, stop_mean=5000), facts) == "the cap"
    assert "on 2 of 3 seeds" in sections.trained_until(SimpleNamespace(n=3, fitted=2, stop_mean=4000), facts)


def test_the_first_dense_layer_alone_is_judged_by_welchs_interval():
    base = SimpleNamespace(test_mean=0.80, test_std=0.005, n=3, params=1_000_000, ratio_mean=0.801)
    better = SimpleNamespace(test_mean=0.85, test_std=0.005, n=3, params=100_000, setting=64, ratio_mean=0.862)
    alike = SimpleNamespace(test_mean=0.81, test_std=0.03, n=3, params=100_000, setting=64, ratio_mean=0.815)
    assert "a gain whose interval excludes zero" in sections.fc1_sentence(base, better)
    assert "90% fewer" in sections.fc1_sentence(base, better)
    assert "its ratio is 0.862 against 0.801" in sections.fc1_sentence(base, better)
    assert "not distinguishable from seed noise" in sections.fc1_sentence(base, alike)


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

    from report.sections.huji_overfit import underfit_sentence

    assert "underfits" in underfit_sentence(R(train_mean=0.83), 0.99)
    assert underfit_sentence(R(train_mean=1.0), 0.99) == ""
