"""Report sentences that compare numbers are chosen by the numbers: flip a stored result, the text flips."""

import pandas as pd



def history(final_test: float, final_train: float) -> pd.DataFrame:
    steps = [0, 500, 1000]
    return pd.DataFrame({"step": steps, "epoch": [0, 0.4, 0.8], "train_loss": [2.3, 0.1, 0.05],
                         "train_accuracy": [0.1, 0.97, final_train], "heldout_loss": [2.3, 0.1, 0.06],
                         "heldout_accuracy": [0.1, 0.969, final_test], "wall_s": [1, 2, 3], "train_s": [0, 1, 2],
                         "learning_rate": [1e-4] * 3})


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
