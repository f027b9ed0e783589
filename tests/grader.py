"""A strict grader's checks of a rendered report, as functions the tests run on the quick report and on the full
sample (docs/results): what a reader marks down without reading a number.

Each returns the offences it finds, empty when the report passes: a machine path or a build instruction in the text,
a page left mostly blank, a figure panel whose curve is flat against its frame, two body paragraphs that say the same
thing twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# What a report must never print: where it was built, or what whoever builds it should do.
FORBIDDEN = [
    (re.compile(r"(?<![\w.])/(home|root|tmp|work|Users|var|opt)/\S+"), "an absolute path"),
    (re.compile(r"\b[A-Z]:\\\S+"), "a Windows path"),
    (re.compile(r"site-packages|\.venv\b"), "an installation path"),
    (re.compile(r"\{\{|\}\}|\{%|%\}"), "template syntax"),
    (re.compile(r"\bTODO\b|\bFIXME\b|\bXXX\b"), "a placeholder"),
    # pandas' spellings ("NaN" is a word of the text); "None" followed by a word is English ("None of them")
    (re.compile(r"\bnan\b|\binf%|\bNone\b(?! [a-z])"), "a missing value"),
    (re.compile(r"go here|run with --names|--names|\brun (python )?Ex1_main\.py|made with --only", re.IGNORECASE),
     "a build instruction"),
    # the team's words for its own goals and machinery: a reader compares with the sheets, not with our plans
    (re.compile(r"\b(targets?|budgets?|(results|run) store)\b", re.IGNORECASE), "a word of ours, not of the sheets"),
]


def forbidden_text(text: str) -> list[str]:
    """Machine paths, placeholders and build instructions in the report's text (what pypdf extracts)."""
    flat = " ".join(text.split())
    found = []
    for pattern, what in FORBIDDEN:
        for m in pattern.finditer(flat):
            found.append(f"{what}: …{flat[max(0, m.start() - 40):m.end() + 40]}…")
    return found


@dataclass
class PageFill:
    page: int            # 1-based
    fill: float          # the share of the page's content height down to its lowest box
    ends_part: bool      # the next page starts a part (a sheet or an appendix): its last page may stay short


def page_fill(html: str) -> list[PageFill]:
    """How far down each page of the PDF WeasyPrint lays out from `html` is used."""
    from weasyprint import HTML

    doc = HTML(string=html).render()
    pages = []
    for page in doc.pages:
        box = page._page_box
        top, height = box.content_box_y(), box.height
        bottoms, starts_part = [], False
        for b in _descendants(box.children[0]):   # the document; the margin boxes hold the running header and footer
            if getattr(b, "element_tag", None) == "h1" and not bottoms:
                starts_part = True
            if not getattr(b, "children", None) and (b.height or 0) > 0:
                bottoms.append(b.position_y + b.height)
        pages.append((max(bottoms, default=top) - top) / height if height else 1.0)
        pages[-1] = (pages[-1], starts_part)
    return [PageFill(i + 1, fill, i + 1 < len(pages) and pages[i + 1][1])
            for i, (fill, _) in enumerate(pages)]


def _descendants(box):
    for child in getattr(box, "children", None) or ():
        yield child
        yield from _descendants(child)


def blank_pages(fills: list[PageFill], most_blank: float = 0.6) -> list[str]:
    """Pages more than `most_blank` blank that do not end a part (nor the report)."""
    return [f"page {f.page}: {1 - f.fill:.0%} blank" for f in fills[:-1]
            if f.fill < 1 - most_blank and not f.ends_part]


def flat_panels(figures: list, tail_from: float = 0.05, top: float = 0.10, share: float = 0.90) -> list[str]:
    """Panels where a curve hugs its frame: more than `share` of its points after the first `tail_from` of the x-range
    lie inside the top `top` of the y-range, in the axes' own (possibly logarithmic) coordinates. Curves of fewer
    than 10 points (reference lines, markers) are not judged."""
    import numpy as np

    found = []
    for name, fig in figures:
        for k, ax in enumerate(fig.axes):
            ax.get_xlim(), ax.get_ylim()   # autoscaled limits are computed lazily: settle them before transforming
            to_axes = ax.transData + ax.transAxes.inverted()
            for line in ax.get_lines():
                xy = np.column_stack(line.get_data()).astype(float)
                xy = xy[np.isfinite(xy).all(axis=1)]
                if len(xy) < 10:
                    continue
                frac = to_axes.transform(xy)
                x0, x1 = frac[:, 0].min(), frac[:, 0].max()
                tail = frac[frac[:, 0] >= x0 + tail_from * (x1 - x0)]
                if len(tail) and (tail[:, 1] >= 1 - top).mean() > share:
                    found.append(f"{name}, panel {k + 1}: {line.get_label() or 'a curve'} lies in the top "
                                 f"{top:.0%} of its panel")
    return found


def body_paragraphs(html: str, min_words: int = 60) -> list[str]:
    """The text of every paragraph before the first appendix with at least `min_words` words."""
    import html as html_mod

    paragraphs = []
    for p in re.findall(r"<p\b[^>]*>(.*?)</p>", body(html), flags=re.S):
        text = " ".join(html_mod.unescape(re.sub(r"<[^>]+>", " ", p)).split())
        if len(text.split()) >= min_words:
            paragraphs.append(text)
    return paragraphs


def repeated_prose(paragraphs: list[str], n: int = 5, shared: float = 0.8) -> list[str]:
    """Pairs of paragraphs sharing more than `shared` of the word n-grams of the shorter one."""
    def grams(t):
        w = re.findall(r"\w+", t.lower())
        return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}

    gs = [grams(p) for p in paragraphs]
    found = []
    for i in range(len(gs)):
        for j in range(i + 1, len(gs)):
            small = min(len(gs[i]), len(gs[j]))
            if small and len(gs[i] & gs[j]) / small > shared:
                found.append(f"“{paragraphs[i][:70]}…” repeats “{paragraphs[j][:70]}…”")
    return found


def glued_sentences(paragraphs: list[str]) -> list[str]:
    """Sentences that run into each other without a space ("limits it.The other"), as a template line break that
    Jinja's trim_blocks ate leaves them; code names such as tf.GradientTape are not sentences."""
    found = []
    for p in paragraphs:
        for m in re.finditer(r"\b([a-z]{2,}|[0-9%)])\.([A-Z][a-z]+)", p):
            if m.group(1) != "tf":
                found.append(f"…{p[max(0, m.start() - 30):m.end() + 20]}…")
    return found


def body_words(html: str) -> int:
    """Words before the first appendix, figure and table captions included, the sheets' own prompts left out."""
    import html as html_mod

    text = re.sub(r'<blockquote\b.*?</blockquote>', " ", body(html), flags=re.S)
    text = re.sub(r"<(style|svg|script|math)\b.*?</\1>", " ", text, flags=re.S)
    return len(html_mod.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def body(html: str) -> str:
    """The answers: from the first sheet's heading to the first appendix."""
    start = html.find('<h1 id="sheet-')
    return html[max(start, 0):].split('<section class="appendix', 1)[0]


def render_recording_figures(answers, ctx, **kwargs) -> tuple[str, list]:
    """The report's HTML as render_html writes it, and every figure drawn for it: (the section function that drew it,
    the matplotlib figure), recorded as each is saved."""
    import inspect
    from unittest import mock

    from matplotlib.figure import Figure

    from report.build import render_html

    figs, save = [], Figure.savefig

    def recording(fig, *a, **k):
        where = next((f.function for f in inspect.stack() if "sections" in f.filename), "?")
        figs.append((f"{where} figure {sum(1 for w, _ in figs if w.startswith(where)) + 1}", fig))
        return save(fig, *a, **k)

    with mock.patch.object(Figure, "savefig", recording):
        html = render_html(answers, ctx, **kwargs)
    return html, figs
