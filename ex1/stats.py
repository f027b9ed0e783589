"""Comparing two groups of seeds (Welch's t-test on the difference of their means), and two classifiers scored on the
same examples (the paired difference of their accuracies, with McNemar's exact test)."""

from __future__ import annotations

import math
from dataclasses import dataclass

LEVEL = 0.95   # the confidence of every interval the report gives


@dataclass(frozen=True)
class Difference:
    """b - a, with Welch's standard error, degrees of freedom, 95% interval and two-sided p-value."""

    diff: float
    se: float
    df: float
    low: float
    high: float
    p: float

    @property
    def measurable(self) -> bool:
        """False with fewer than two seeds on a side: no spread, no test."""
        return math.isfinite(self.p)

    @property
    def significant(self) -> bool:
        """The 95% interval excludes zero (equivalently p < 0.05)."""
        return self.measurable and self.p < 1 - LEVEL

    @property
    def direction(self) -> str:
        """'gain' or 'loss' when the interval excludes zero, else 'indistinct'."""
        return ("gain" if self.diff > 0 else "loss") if self.significant else "indistinct"

    def points(self, test: str = "Welch's t-test") -> str:
        """'+0.42 points (95% interval +0.10 to +0.74; Welch's t-test, 3.6 degrees of freedom, p = 0.02)'."""
        if not self.measurable:
            return f"{signed(100 * self.diff)} points (one seed on a side: no interval)"
        if self.se == 0:
            return f"{signed(100 * self.diff)} points (identical across seeds on both sides)"
        return (f"{signed(100 * self.diff)} points (95% interval {signed(100 * self.low)} to {signed(100 * self.high)}; "
                f"{test}, {self.df:.1f} degrees of freedom, {p_value(self.p)})")


    def plain(self) -> str:
        """The body's form: '+0.42 points (95% interval +0.10 to +0.74)'; the test's name and degrees of freedom
        are the appendix's."""
        if not self.measurable or self.se == 0:
            return self.points()
        return f"{signed(100 * self.diff)} points (95% interval {signed(100 * self.low)} to {signed(100 * self.high)})"


def p_value(p: float) -> str:
    """'p = 0.042', or 'p < 0.0001' where two significant digits would print a string of zeros or an exponent."""
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.2g}"


def signed(x: float, digits: int = 2) -> str:
    """x with its sign, "+0.42" or "−0.10" (a typeset minus, U+2212); a value that rounds to zero prints as
    "0.00", never "−0.00"."""
    s = f"{x:+.{digits}f}"
    return s[1:] if float(s) == 0 else s.replace("-", "\u2212")


def welch(mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float, n_b: int) -> Difference:
    """Welch's t-test of mean_b - mean_a from two samples' means, standard deviations (ddof=1) and sizes.

    With fewer than two seeds on either side the interval and p-value are NaN: not measurable."""
    from scipy import stats

    diff = mean_b - mean_a
    nan = float("nan")
    if min(n_a, n_b) < 2 or not (math.isfinite(std_a) and math.isfinite(std_b)):
        return Difference(diff, nan, nan, nan, nan, nan)
    va, vb = std_a ** 2 / n_a, std_b ** 2 / n_b
    se = math.sqrt(va + vb)
    if se == 0:  # every seed gave the same number on both sides
        return Difference(diff, 0.0, nan, diff, diff, 0.0 if diff else 1.0)
    df = (va + vb) ** 2 / (va ** 2 / (n_a - 1) + vb ** 2 / (n_b - 1))
    t = stats.t.ppf(0.5 + LEVEL / 2, df)
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return Difference(diff, se, df, diff - t * se, diff + t * se, p)


def variance_ratio(std_a: float, n_a: int, std_b: float, n_b: int) -> float:
    """Two-sided p-value of the F-test that two samples (standard deviations with ddof=1, sizes n) share one
    variance; NaN with fewer than two of either."""
    from scipy import stats

    if n_a < 2 or n_b < 2 or not std_a > 0 or not std_b > 0:
        return float("nan")
    f = (std_a / std_b) ** 2
    one = stats.f.sf(f, n_a - 1, n_b - 1) if f >= 1 else stats.f.cdf(f, n_a - 1, n_b - 1)
    return float(min(1.0, 2 * one))


def contrast(terms) -> Difference:
    """Welch's test of a sum of group means with coefficients, from (coefficient, mean, std, n) per group: e.g.
    (b - a) - (d - c), one method's gain over its own baseline minus another's. The groups are taken as
    independent; Welch-Satterthwaite degrees of freedom."""
    from scipy import stats

    terms = list(terms)
    diff = sum(c * m for c, m, _, _ in terms)
    nan = float("nan")
    if any(n < 2 or not math.isfinite(s) for _, _, s, n in terms):
        return Difference(diff, nan, nan, nan, nan, nan)
    parts = [c * c * s * s / n for c, _, s, n in terms]
    se = math.sqrt(sum(parts))
    if se == 0:
        return Difference(diff, 0.0, nan, diff, diff, 0.0 if diff else 1.0)
    df = se ** 4 / sum(v * v / (n - 1) for v, (_, _, _, n) in zip(parts, terms))
    t = stats.t.ppf(0.5 + LEVEL / 2, df)
    return Difference(diff, se, df, diff - t * se, diff + t * se, float(2 * stats.t.sf(abs(diff) / se, df)))


@dataclass(frozen=True)
class Paired:
    """Accuracy of b minus accuracy of a on the same n examples, from the examples only one of them gets right.

    Whether the two differ is McNemar's exact test: under "equally good" each of the k discordant examples is a
    fair coin. How large the difference is comes with the paired normal-approximation interval, whose standard
    error also carries the randomness of k (an interval conditional on k, mapped from the exact test, is up to
    twice too narrow when nearly all discordant examples go one way). Near p = 0.05 the two can disagree; the
    verdict follows the test and the text says so (`points`)."""

    only_a: int
    only_b: int
    n: int

    @property
    def diff(self) -> float:
        return (self.only_b - self.only_a) / self.n

    @property
    def se(self) -> float:
        return math.sqrt(self.only_a + self.only_b - (self.only_b - self.only_a) ** 2 / self.n) / self.n

    @property
    def low(self) -> float:
        return self.diff - 1.96 * self.se

    @property
    def high(self) -> float:
        return self.diff + 1.96 * self.se

    @property
    def p(self) -> float:
        from scipy import stats

        k = self.only_a + self.only_b
        return float(stats.binomtest(self.only_b, k, 0.5).pvalue) if k else 1.0

    @property
    def significant(self) -> bool:
        return self.p < 1 - LEVEL

    def points(self, flip: bool = False) -> str:
        """'+0.42 points (95% interval +0.10 to +0.74; McNemar's exact test, p = 0.01)'; flip: of a - b."""
        s = -1 if flip else 1
        lo, hi = sorted((s * self.low, s * self.high))
        d = s * self.diff
        head = "less than 0.005 points" if round(100 * d, 2) == 0 else f"{signed(100 * d)} points"
        text = f"{head} (95% interval {signed(100 * lo)} to {signed(100 * hi)}; McNemar's exact test, {p_value(self.p)}"
        if (self.low > 0 or self.high < 0) != self.significant:
            text += "; so near the threshold the interval's normal approximation and the exact test disagree, and " \
                    "the verdict follows the test"
        return text + ")"

    def plain(self, flip: bool = False) -> str:
        """The body's form, '+0.42 points (95% interval +0.10 to +0.74)'; the test is named in the report's
        conventions. Where the interval and the exact test disagree, the whole of points()."""
        if (self.low > 0 or self.high < 0) != self.significant:
            return self.points(flip)
        s = -1 if flip else 1
        lo, hi = sorted((s * self.low, s * self.high))
        d = s * self.diff
        head = "less than 0.005 points" if round(100 * d, 2) == 0 else f"{signed(100 * d)} points"
        return f"{head} (95% interval {signed(100 * lo)} to {signed(100 * hi)})"


def right_wrong(correct: dict, count: str):
    """How many examples each right/wrong pattern of several classifiers holds: one boolean column per classifier
    (from `correct`, name -> whether it got each example right) and the count in column `count`."""
    import pandas as pd

    return pd.DataFrame(correct).value_counts().rename(count).reset_index()


def paired(patterns, a: str, b: str, count: str) -> Paired:
    """Paired of b against a from a right_wrong table: the examples only a, and only b, gets right."""
    only = lambda x, y: int(patterns.loc[patterns[x] & ~patterns[y], count].sum())   # noqa: E731
    return Paired(only(a, b), only(b, a), int(patterns[count].sum()))
