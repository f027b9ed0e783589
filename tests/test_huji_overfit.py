"""Question 4: every variant is read at one step, chosen on validation images, and reported on the test set."""

from types import SimpleNamespace as R

import numpy as np
import pandas as pd
import pytest

from report.sections import huji_overfit as q4


def row(setting, test, val, experiment="dropout", params=1000, step=5000, std=0.005, train=1.0, ratio=None):
    return R(experiment=experiment, setting=setting, params=params, n=3, test_mean=test, test_std=std,
             validation_mean=val, validation_std=std, train_mean=train, ratio_mean=ratio or test / train,
             read_step=step, read_step_min=step)


def test_a_difference_between_runs_read_at_different_steps_is_refused():
    assert q4.matched(row(1, 0.9, 0.9), row(0.5, 0.92, 0.91)) == 5000
    with pytest.raises(ValueError, match="different steps"):
        q4.difference(row(1, 0.9, 0.9, step=250), row(0.5, 0.92, 0.91, step=1000))
    # a summary row whose seeds were read at different steps is refused as well
    mixed = row(0.5, 0.92, 0.91)
    mixed.read_step_min = 4750
    with pytest.raises(ValueError, match="different steps"):
        q4.matched(row(1, 0.9, 0.9), mixed)


def test_the_setting_is_chosen_on_validation_and_the_test_best_is_named_when_it_differs():
    rows = pd.DataFrame([vars(row(1.0, 0.90, 0.905)), vars(row(0.5, 0.93, 0.915)), vars(row(0.35, 0.94, 0.910))])
    pick = q4.chosen(rows)
    assert pick.setting == 0.5
    text = q4.dropout_sentence(R(**vars(row(1.0, 0.90, 0.905))), pick, rows.loc[rows["test_mean"].idxmax()])
    assert "keep probability <b>0.5</b>" in text and "+3.00 points" in text
    assert "highest mean test accuracy, 94.00%, is at keep probability 0.35" in text
    assert "Welch" not in text and "degrees of freedom" not in text   # the body's plain words


def test_no_dropout_chosen_says_so():
    base = R(**vars(row(1.0, 0.90, 0.905)))
    assert "choose <b>no dropout</b>" in q4.dropout_sentence(base, base, base)


def test_a_smaller_network_is_compared_with_the_full_one_at_the_same_step():
    base = row(1.0, 0.90, 0.90, experiment="width", params=1_000_000)
    pick = row(64, 0.92, 0.91, experiment="fc1", params=100_000)
    text = q4.smaller_sentence(base, pick)
    assert "fc1 alone: 64 units" in text and "10 times fewer" in text and "a gain whose interval excludes zero" in text
    with pytest.raises(ValueError):
        q4.smaller_sentence(base, row(64, 0.91, 0.91, experiment="fc1", params=100_000, step=500))


def test_when_the_full_size_is_kept_the_best_smaller_network_is_still_reported():
    base = row(1.0, 0.9105, 0.9094, experiment="width", params=1_111_946)
    fc1 = row(256, 0.9106, 0.9079, experiment="fc1", params=317_066)
    text = q4.smaller_sentence(base, base, fc1)
    assert "keeps the full size" in text and "fc1 alone: 256 units (90.79%)" in text and "3.5 times fewer" in text
    assert "not distinguishable from seed noise" in text
    assert "not reproduced" not in text          # without the table of smaller networks, no reason is claimed


def test_when_no_smaller_network_helps_the_training_accuracies_say_why():
    base = row(1.0, 0.9105, 0.9094, experiment="width", params=1_111_946)
    fc1 = row(256, 0.9106, 0.9079, experiment="fc1", params=317_066)
    smaller = pd.DataFrame([vars(fc1), vars(row(0.125, 0.8899, 0.8869, experiment="width", params=18_714)),
                            vars(row(0.0625, 0.8557, 0.8531, experiment="width", params=5_066, train=0.996))])
    text = q4.smaller_sentence(base, base, fc1, smaller)
    assert "not reproduced here: 2 of the 3 smaller networks, down to 18,714 parameters, still fit all 250" in text
    assert "the smallest, with 5,066, fits 99.60% of them and scores lower on test (85.57%)" in text
    # every smaller network fits its examples only partly: no memorising claim
    assert q4.no_gain_reason(smaller.assign(train_mean=0.99), base) == ""


def test_a_best_ratio_from_underfitting_says_so():
    assert "underfits" in q4.ratio_sentence(row(0.2, 0.83, 0.83, train=0.84), 0.92, 0.9)
    assert "underfits" not in q4.ratio_sentence(row(0.5, 0.92, 0.92), 0.92, 0.9)
    # where the others fit 100%, 97.9% is underfitting (the real keep 0.2 at step 3,000); 99.5% is not, nor is the
    # best test accuracy of the table
    text = q4.ratio_sentence(row(0.2, 0.9276, 0.9239, train=0.9787), 0.9368, 0.911)
    assert "fits only 97.87%" in text and "0.92 points below the best" in text and "underfits" in text
    assert "underfits" not in q4.ratio_sentence(row(0.35, 0.90, 0.90, train=0.995), 0.92, 0.9)
    assert "underfits" not in q4.ratio_sentence(row(0.35, 0.92, 0.92, train=0.93), 0.92, 0.9)
    assert "None of them improves" in q4.ratio_sentence(row(256, 0.9106, 0.91, ratio=0.91063), 0.9106, 0.91053)


def test_the_remedies_against_each_other():
    size = row(64, 0.90, 0.90, experiment="fc1")
    assert "dropout setting scores higher than" in q4.versus_sentence(size, row(0.5, 0.93, 0.93))
    assert "smaller network scores higher than" in q4.versus_sentence(size, row(0.5, 0.87, 0.87))
    assert "neither of the two" in q4.versus_sentence(size, row(0.5, 0.902, 0.902, std=0.03))


def test_the_validation_images_lie_outside_the_250_training_images():
    from experiments import huji_overfit
    from ex1.data import stratified_subset

    rng = np.random.default_rng(0)
    n = 600
    y = np.repeat(np.arange(10), n // 10)
    rng.shuffle(y)
    ds = R(x_train=np.arange(n).reshape(n, 1, 1, 1), y_train=y)   # each image is its own index
    cfg = R(per_class=5, subset_seed=0, validation=100)
    x_val, y_val = huji_overfit.validation_images(cfg, R(dataset=lambda name: ds))
    ids = set(np.round(x_val.ravel() * 255).astype(int).tolist())
    assert len(y_val) == 100 and not ids & set(stratified_subset(y, 5, 0).tolist())


def test_a_choice_by_less_than_the_seed_noise_is_called_so():
    base = R(**vars(row(1.0, 0.9105, 0.9094, std=0.005)))
    pick, second = row(0.35, 0.9368, 0.9335, std=0.0044), row(0.5, 0.9347, 0.9316, std=0.0031)
    text = q4.dropout_sentence(base, pick, pick, second)
    assert "0.19 points above keep probability 0.5 there, within seed noise" in text
    far = row(0.5, 0.9, 0.90, std=0.001)
    assert "beyond seed noise" in q4.dropout_sentence(base, row(0.35, 0.94, 0.93, std=0.001), pick, far)
