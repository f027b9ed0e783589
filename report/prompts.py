"""The sheets' words in the question boxes, with their formulas typeset.

The prompts live in the experiments' docstrings as plain text (they are also the functions' help);
here each formula written there in ASCII is replaced by the same formula in LaTeX, rendered.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

from .mathsvg import tex

# question id -> (the ASCII in the docstring, its LaTeX); every ASCII piece must occur in the prompt
FORMULAS: dict[str, tuple[tuple[str, str], ...]] = {
    "huji.t1": (("(f[k+t]*g[k])[n] = (f[k]*g[k])[n+t]", r"(f[k+t] * g[k])[n] = (f[k] * g[k])[n+t]"),
                ("(f[k]*g[k+t])[n] = (f[k]*g[k])[n+t]", r"(f[k] * g[k+t])[n] = (f[k] * g[k])[n+t]")),
    "huji.t2": (("(f*I)[n] + b < 0", r"(f * I)[n] + b < 0"), ("F(ReLU(f*I + b))", r"F(\mathrm{ReLU}(f * I + b))")),
    "tuebingen.2": (("Z_ij = sum_{k,l} V_{i+k, j+l} K_{k,l}", r"Z_{ij} = \sum_{k,l} V_{i+k,\,j+l}\, K_{k,l}"),
                    ("dL/dZ_ij", r"\partial \mathcal{L}/\partial Z_{ij}"),
                    ("dL/dK_mn", r"\partial \mathcal{L}/\partial K_{mn}"),
                    ("dL/dV_mn", r"\partial \mathcal{L}/\partial V_{mn}")),
    "eth.1": (("f * k", r"f * k"), ("m x n", r"m \times n"), ("(2p+1) x (2q+1)", r"(2p+1) \times (2q+1)")),
    "eth.2": (("p x p", r"p \times p"), ("m x m", r"m \times m"), ("128 x 128 x 3", r"128 \times 128 \times 3"),
              ("5 x 5", r"5 \times 5"), ("2.168e-5", r"2.168 \cdot 10^{-5}"), ("1.103e-8", r"1.103 \cdot 10^{-8}")),
    "eth.3": (("dL/dw", r"\partial L/\partial w"), ("dL/dy^(l-1)", r"\partial L/\partial y^{(l-1)}"),
              ("y^(l) = y^(l-1) * w", r"y^{(l)} = y^{(l-1)} * w"), ("rot180", r"\mathrm{rot}_{180^\circ}")),
    "bonn.t1": (("(k x k)", r"(k \times k)"), ("(d x d)", r"(d \times d)"), ("y = x * w", r"y = x * w"),
                ("dy/dw", r"\partial y/\partial w"), ("dy/dx", r"\partial y/\partial x")),
    "bonn.t2": (("a_j = sum_i w_ji z_i, z_i = h(a_i)", r"a_j = \sum_i w_{ji} z_i,\ z_i = h(a_i)"),),
}


def _sizes(text: str) -> str:
    """Sizes written with "*" or "x" between two numbers ("5*5 kernel", "5x5") as the sheet prints them: 5×5."""
    return re.sub(r"\b(\d+) ?[*x] ?(\d+)\b", r"\1×\2", text)


def typeset(qid: str, prompt: str) -> Markup:
    """The prompt as HTML: whitespace of the docstring folded, each known formula rendered."""
    html = _sizes(str(escape(" ".join(prompt.split()))))
    for ascii_, latex in FORMULAS.get(qid, ()):
        piece = _sizes(str(escape(ascii_)))
        if piece not in html:
            raise ValueError(f"{qid}: the prompt no longer contains {ascii_!r}; update report/prompts.py")
        html = html.replace(piece, str(tex(latex)), 1)
    return Markup(html)
