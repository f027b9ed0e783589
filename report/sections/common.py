"""What every sheet's report sections share: figure and table records, the section registry, number
formats, layer and check tables, and the small statistics the sentences are chosen by.

Sentences that compare numbers are chosen in the sheet modules by the comparison, never written in advance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from ex1.stats import signed

@dataclass
class Figure:
    id: str
    svg: str
    caption: str
    kind: str = ""     # "more": printed in the appendix of further figures and tables, linked from the answer

    @property
    def wide(self) -> bool:
        """Two panels (wider than 6 in): a figure of the text's width; one panel sits beside the text."""
        m = re.search(r'<svg[^>]*\bwidth="([0-9.]+)pt"', self.svg)
        return m is None or float(m.group(1)) > 6 * 72


@dataclass
class Table:
    id: str
    caption: str
    columns: list[str]
    rows: list[list[str]]
    align: list[str] = field(default_factory=list)  # "l" or "r" per column
    total: list[str] | None = None                  # an emphasised last row
    kind: str = ""                                  # "architectures", "checks" or "more": printed in that appendix


_SECTIONS: dict[str, Callable] = {}


def section(qid: str):
    def wrap(fn):
        _SECTIONS[qid] = fn
        return fn

    return wrap


def build(answer) -> dict:
    """The template context of one answer: figures, tables, sentences, plus the run facts. Built once per answer
    (kept on it): the PDF, the HTML and the figure files of one command draw each figure once."""
    ctx = answer.__dict__.get("_report_context")
    if ctx is None:
        fn = _SECTIONS.get(answer.question.id)
        if fn is None:
            raise KeyError(f"no report section for question {answer.question.id}")
        ctx = answer.__dict__["_report_context"] = fn(answer.result, answer.record)
    return ctx


def figures_in(ctx) -> list[Figure]:
    """Every figure of a section's context, wherever it sits in it, in order, each once."""
    found: dict[str, Figure] = {}

    def walk(x):
        if isinstance(x, Figure):
            found.setdefault(x.id, x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)

    walk(ctx)
    return list(found.values())


def text(v) -> str:
    """A table cell as text: CSV round trips turn empty strings into NaN."""
    return v if isinstance(v, str) else ""


def pct(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f}%"


def num(n: float) -> str:
    """A count or a mean of counts, rounded (not truncated) to a whole number, with thousands separators."""
    return f"{int(round(float(n))):,}"


def secs(s: float) -> str:
    s = float(s)
    if s < 90:
        return f"{s:.1f} s"
    return f"{s / 60:.1f} min"


def slug(qid: str, name: str) -> str:
    return f"{qid.replace('.', '-')}-{name}"


def grouped(formula: str) -> str:
    """Integers of four or more digits in a formula with thousands separators ("1024·1024" -> "1,024·1,024");
    decimals and numbers inside identifiers are left alone."""
    return re.sub(r"(?<![\w.])\d{4,}(?![\w.])", lambda m: f"{int(m.group()):,}", formula)


def tex_grouped(formula: str) -> str:
    """grouped() for a TeX formula: the separator in braces, so that TeX does not space it as punctuation."""
    # After a command (\cdot1024) a number is still a number; after "_", "^" or "{" it is an index.
    return re.sub(r"(?<![\d.{_^])\d{4,}(?![\d.])", lambda m: f"{int(m.group()):,}".replace(",", "{,}"), formula)


def shape(v) -> str:
    """A stored output shape or size rule ("24 x 24 x 32", "28 - 5 + 1 = 24", "4 * 4 * 64 = 1024") as typeset text."""
    return grouped(text(v).replace(" x ", " × ").replace(" * ", " × ").replace(" - ", " − "))


def param_table(qid: str, name: str, t: pd.DataFrame, caption: str) -> Table:
    rows = []
    for r in t.itertuples():
        rows.append([r.layer, r.type, shape(r.output_shape), shape(r.size_rule),
                     grouped(r.formula.replace("*", "·")) if r.params else "—", num(r.params)])
    return Table(id=slug(qid, name), caption=caption,
                 columns=["layer", "type", "output shape", "how the size follows", "parameters: formula", "count"],
                 rows=rows, align=["l", "l", "r", "l", "r", "r"],
                 total=["total", "", "", "", "", num(t["params"].sum())], kind="architectures")


def first_step_reaching(h: pd.DataFrame, column: str, level: float) -> int | None:
    hit = h[h[column] >= level]
    return int(hit["step"].iloc[0]) if len(hit) else None


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def sci(x: float, digits: int = 2) -> str:
    """A small or large number as typeset, to `digits` significant digits: 5.8 × 10⁻⁷; between 0.01 and 1,000
    plainly (0.76)."""
    if not x:
        return "0"
    if 1e-2 <= abs(x) < 1e3:
        return f"{x:.{digits}g}"
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def check_table(qid: str, name: str, df: pd.DataFrame, caption: str, error_cols: tuple[str, ...] = (),
                kind: str = "checks") -> Table:
    """A DataFrame as a report table; error columns in scientific notation."""
    rows = []
    for r in df.itertuples(index=False):
        rows.append(["" if isinstance(v, float) and v != v else sci(v) if c in error_cols
                     else (num(v) if isinstance(v, (int,)) and not isinstance(v, bool)
                           else (f"{v:.4g}" if isinstance(v, float) else str(v))) for c, v in zip(df.columns, r)])
    align = ["r" if pd.api.types.is_numeric_dtype(df[c]) else "l" for c in df.columns]
    return Table(id=slug(qid, name), caption=caption, columns=[c.replace("_", " ") for c in df.columns],
                 rows=rows, align=align, kind=kind)


TOLERANCE = 1e-9   # float64 checks
TOLERANCE_32 = 1e-5  # float32 (TensorFlow) checks


def mean_std_pct(values: pd.Series, seeds: bool = True) -> str:
    """'95.80 ± 0.21%' (mean ± standard deviation over seeds), with the count of seeds unless a caption has it."""
    s = values.std() if len(values) > 1 else float("nan")
    text_ = f"{100 * values.mean():.2f} ± {100 * s:.2f}%" if s == s else f"{100 * values.mean():.2f}%"
    return text_ + (f" ({len(values)} seeds)" if seeds else "")


def one_line(text: str) -> str:
    """Text that a table cell must not break: no-break spaces, and a word joiner after each "/"."""
    return text.replace(" ", "\u00a0").replace("/", "/\u2060")


def binomial_se(p: float, n: float) -> float:
    return (p * (1 - p) / n) ** 0.5 if n else float("nan")


def sign_beyond(diff: float, half_width: float) -> int:
    """+1 or -1 when the interval diff ± half_width excludes zero on that side, 0 when it contains zero."""
    return 1 if diff - half_width > 0 else -1 if diff + half_width < 0 else 0


def interval(diff: float, se: float) -> str:
    """'+0.42 points (95% interval ...)'; a difference that rounds to 0.00 says so rather than print 0.00."""
    d = "less than 0.005 points" if round(100 * diff, 2) == 0 else f"{signed(100 * diff)} points"
    return f"{d} (95% interval {signed(100 * (diff - 1.96 * se))} to {signed(100 * (diff + 1.96 * se))})"


def run_of(record, label: str) -> dict:
    """The run of a question with this label (its role), whatever its position among the question's runs."""
    return next(r for r in record["runs"] if r["label"] == label)


def pm(mean: float, std: float, n: int | None = None, scale: float = 100.0, digits: int = 2) -> str:
    """"mean ± std (n=3)"; without n where the caption already says how many seeds."""
    s = 0.0 if std != std else scale * std
    # A spread that rounds to zero at the mean's precision keeps one significant digit: "± 0.000" reads as no spread.
    spread = f"{s:.{digits}f}" if s == 0 or round(s, digits) > 0 else f"{s:.1g}"
    return f"{scale * mean:.{digits}f} ± {spread}" + (f" (n={n})" if n is not None else "")



CONV_BACKPROP = "tuebingen.2"   # the question whose sheet asks the convolution's gradients most fully: derived there
CONV_BACKPROP_CHECKS = "conv-backprop-checks"


def conv_backprop_checks(qid: str, result, caption: str, tol: float = TOLERANCE_32) -> dict:
    t = result.tables["checks"]
    table = check_table(qid, "checks", t, caption, ("max_abs_error",))
    # The three sheets' checks are one computation: one table, which every answer links to.
    table.id = CONV_BACKPROP_CHECKS
    return {"checks": table, "ok": float(t["max_abs_error"].max()) < tol, "worst": sci(t["max_abs_error"].max()),
            "derivation": "q-" + CONV_BACKPROP.replace(".", "-")}


def conv_backprop_section(qid: str) -> None:
    """Tübingen 2, ETH 3 and Bonn Theory 1 ask for the same gradients: one check, one table."""
    section(qid)(lambda result, record: conv_backprop_checks(
        qid, result, "The derived gradients of a convolution (Tübingen 2, ETH 3, Bonn Theory 1) against "
                     "tf.GradientTape on a random image, kernel and upstream gradient (float64)."))

def still_improving(h: pd.DataFrame, column: str = "heldout_accuracy", last: int = 3) -> float:
    """Points of accuracy gained over the last `last` evaluations (mean of the last against the ones before)."""
    if len(h) < 2 * last:
        return float("nan")
    return float(100 * (h[column].iloc[-last:].mean() - h[column].iloc[-2 * last:-last].mean()))
