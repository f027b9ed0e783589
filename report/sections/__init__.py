"""Per-question report content, one module per sheet as in experiments/: figures, tables and the
sentences chosen by the numbers, built from a stored answer for its template."""

from . import bonn, eth, huji, huji_theory, tuebingen  # noqa: F401  (each registers its questions' sections)
from .common import (CONV_BACKPROP, CONV_BACKPROP_CHECKS, Figure, Table, build, figures_in, num, pct, sci, secs,  # noqa: F401
                     section)
from .huji import drop_vs_size_sentence, fc1_sentence, trained_until  # noqa: F401
