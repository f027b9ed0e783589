"""Per-question report content, one module per module of experiments/ and of the same name (report/sections/
huji_depth.py renders what experiments/huji_depth.py computes: HUJI 3.1-3.3): figures, tables and the sentences
chosen by the numbers, built from a stored answer for its template, report/templates/sections/<question id>.html.j2."""

# Each registers its questions' sections; the order is the report's.
from . import huji, huji_depth, huji_overfit, huji_sum, huji_theory  # noqa: F401,I001
from . import tuebingen, eth, bonn, bonn_practical  # noqa: F401,E401
from .common import (CONV_BACKPROP, CONV_BACKPROP_CHECKS, Figure, Table, build, figures_in, num, pct, sci, secs,  # noqa: F401
                     section)
