"""The numerical checks behind the derivations: each must hold, and must be able to fail."""

import numpy as np

from ex1 import theory


def test_translation_identities_hold_and_a_wrong_shift_breaks_them():
    assert theory.translation_equivariance()["max_abs_error"].max() < 1e-9
    rng = np.random.default_rng(0)
    f, g = rng.normal(size=16), rng.normal(size=16)
    wrong = theory.circular_conv(theory.shift(f, 2), g) - theory.shift(theory.circular_conv(f, g), 3)
    assert np.abs(wrong).max() > 1e-3


def test_dot_product_form_and_output_lengths():
    assert theory.convolution_as_dot_products()["max_abs_error"].item() < 1e-9
    t = theory.valid_output_lengths()
    assert (t["formula n-k+1"] == t["tf.nn.conv1d VALID"]).all()
    assert t.loc[t["n"] == t["k"], "tf.nn.conv1d VALID"].tolist() == [1]


def test_conv1d_full_matches_numpy():
    rng = np.random.default_rng(1)
    f, g = rng.normal(size=4), rng.normal(size=9)
    np.testing.assert_allclose(theory.conv1d_full(f, g), np.convolve(f, g), atol=1e-12)


def test_relu_gradients_vanish_only_when_every_response_is_negative():
    t = theory.relu_dead_gradients().set_index("case")
    assert t.loc["all responses negative", "max |dL/df|"] == 0.0
    assert t.loc["all responses negative", "|dL/db|"] == 0.0
    assert t.loc["some responses positive", "max |dL/df|"] > 0.0
    d = theory.dead_unit_under_gradient_descent(steps=20)
    assert d["max |f - f0|"].item() == 0.0 and d["|b - b0|"].item() == 0.0


def test_jacobian_matches_autodiff_and_the_correlation():
    checks, jac = theory.jacobian_check(n=9, k=4)
    assert jac.shape == (6, 4)
    assert checks["max_abs_error"].max() < 1e-6


def test_parameter_questions_agree_with_keras():
    t = theory.parameter_questions()
    assert (t["by_formula"] == t["keras"]).all()


def test_conv2d_backprop_formulas_match_autodiff_and_a_wrong_one_does_not():
    assert theory.conv2d_backprop_check()["max_abs_error"].max() < 1e-9
    rng = np.random.default_rng(0)
    g = rng.normal(size=(4, 4))
    k = rng.normal(size=(3, 3))
    # Without the 180-degree rotation the input gradient is wrong.
    right = theory.convolve2d_full(g, k)
    wrong = theory.correlate2d_valid(np.pad(g, 2), k)
    assert np.abs(right - wrong).max() > 1e-3


def test_weight_sharing_sums_the_gradients_of_the_tied_uses():
    t = theory.weight_sharing_check().set_index("quantity")["value"]
    assert t["|difference|"] < 1e-12
    assert t["tie broken by an unconstrained step: |w00 - w11| after"] > 0


def test_layer_sizes_formula_and_keras_agree():
    t = theory.conv_layer_sizes().set_index("part")
    assert t.loc["(a) output size, stride 1, no padding", "keras"] == "15 x 15"
    assert t.loc["(d) fully connected weights, same output", "keras"] == str(21 * 21 * 12 * 15 * 15 * 36)
    assert t.loc["(f) output size, stride 2, no padding", "keras"] == "8 x 8"


def test_eth_ratios_reproduce_the_published_solution_only_with_the_9k_reading():
    t = theory.eth_parameter_ratios().set_index("quantity")["value"]
    assert f"{t['ratio CNN / locally connected']:.4g}" == "2.168e-05"
    assert f"{t['ratio CNN / FC, reading 9K']:.4g}" == "1.103e-08"
    assert f"{t['ratio CNN / FC, reading 3K']:.4g}" != "1.103e-08"


def test_2d_translation_and_size():
    t = theory.translation_2d_check()
    assert t["expected"].iloc[0] == t["measured"].iloc[0] and t["max_abs_error"].max() < 1e-12
