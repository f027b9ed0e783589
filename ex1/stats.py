"""Comparing two groups of seeds: is a difference of means more than seed noise?"""

from __future__ import annotations

import math


def mean_difference(mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float, n_b: int):
    """(b - a, its standard error, whether |b - a| exceeds two standard errors).

    The standard error is Welch's, from the two sample standard deviations; with fewer than two
    seeds on either side it is NaN and no difference counts as significant.
    """
    diff = mean_b - mean_a
    se = math.sqrt(std_a ** 2 / n_a + std_b ** 2 / n_b) if min(n_a, n_b) > 1 else float("nan")
    return diff, se, bool(math.isfinite(se) and abs(diff) > 2 * se)
