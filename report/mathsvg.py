"""LaTeX to SVG images with ziamath (WeasyPrint renders no MathML), cached per expression."""

from __future__ import annotations

import base64
import re
from functools import lru_cache

from markupsafe import Markup, escape

TEXT_PX = 14.0  # matches the 10.5 pt body text (1 px = 0.75 pt)


@lru_cache(maxsize=None)
def _render(expr: str, size: float) -> tuple[str, float, float, float]:
    import ziamath

    svg = ziamath.Latex(expr, size=size).svg()
    m = re.search(r'width="([\d.]+)" height="([\d.]+)" viewBox="([-\d.]+) ([-\d.]+)', svg)
    width, height, top = float(m.group(1)), float(m.group(2)), float(m.group(4))
    return svg, width, height, height + top  # the last: depth below the baseline


def tex(expr: str, display: bool = False, size: float = TEXT_PX) -> Markup:
    """An <img> of the formula; inline ones sit on the text baseline, display ones are centred."""
    svg, w, h, depth = _render(expr, size * (1.1 if display else 1.0))
    src = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    alt = escape(expr)
    if display:
        # max-width keeps an over-long formula on the page (scaled down) instead of overflowing it.
        return Markup(f'<div class="math-display"><img src="{src}" alt="{alt}" '
                      f'style="width:{w:.2f}px;max-width:100%;height:auto"></div>')
    return Markup(f'<img class="math" src="{src}" alt="{alt}" '
                  f'style="width:{w:.2f}px;height:{h:.2f}px;vertical-align:{-depth:.2f}px">')
