"""Figures as pure functions of result tables; SVG output with extractable text and stable bytes."""

from __future__ import annotations

import hashlib
import io
import math
import zlib

import functools

import matplotlib
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter

# The report's style, applied while a figure is drawn and saved (matplotlib.rc_context): importing this
# module or drawing a figure leaves the caller's backend and rcParams (a notebook's) as they were.
STYLE = {
    "svg.fonttype": "none",        # text stays text: searchable in the PDF, checked by tests
    "svg.hashsalt": "ex1",         # stable ids inside the SVG: the same table gives the same bytes
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
}


def _styled(draw):
    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)
    return wrapper


SIDE_SCALE = 0.8   # one-panel figures are drawn this much smaller, see _subplots


def _subplots(*args, **kwargs):
    """pyplot.subplots without pyplot: the figure belongs to no backend and needs no closing.

    A one-panel figure sits beside the text at about 3.5 inches; drawn at its nominal size it would shrink to
    70% and its 9-point labels to 6 points. Drawn at 80% of it, they print at about 8 points."""
    figsize = kwargs.pop("figsize", None)
    if figsize and figsize[0] < 6.5:
        figsize = (figsize[0] * SIDE_SCALE, figsize[1] * SIDE_SCALE)
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)

# One colour per model across every figure of the report.
_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22"]
_FIXED = {"HUJI network": "#1f77b4", "HUJI network, 'same' padding": "#17becf", "linear network": "#d62728",
          "softmax regression": "#7f7f7f", "shallow": "#ff7f0e", "deep": "#2ca02c",
          "sum classifier": "#8c564b", "two-digit network": "#e377c2",
          "all 60,000 examples": "#1f77b4", "250 examples": "#d62728",
          "Tübingen GAP network": "#9467bd", "Bonn CNN": "#2ca02c", "Bonn CNN, dropout + weight decay": "#ff7f0e",
          "Bonn CNN on CIFAR-10": "#ff7f0e", "Bonn CNN on CIFAR-10, no regularisation": "#2ca02c",
          "Bonn CNN on CIFAR-10, augmented": "#9467bd", "Bonn CNN on CIFAR-10, augmented, no dropout": "#8c564b"}


def color_for(label: str) -> str:
    # a chosen network of HUJI 3.3 ("shallow 4×5×5/s1, pool 6") keeps its family's colour from 3.1 and 3.2
    family = label.split(" ", 1)[0]
    return (_FIXED.get(label) or (_FIXED[family] if family in ("shallow", "deep") else None)
            or _PALETTE[zlib.crc32(label.encode()) % len(_PALETTE)])


# The drawn figures by the digest of their SVG, so that a PNG can be made of the same drawing when the figure
# files are written (report.build.write_figures), then forgotten.
_DRAWN: dict[str, Figure] = {}


def png_of(svg: str, dpi: int = 200) -> bytes | None:
    """The PNG of the figure whose SVG this is, drawn in this process; None when it was not."""
    fig = _DRAWN.get(hashlib.sha1(svg.encode()).hexdigest())
    if fig is None:
        return None
    buf = io.BytesIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def drawn(svg: str) -> Figure:
    """The figure drawn in this process whose SVG this is (KeyError when it was not)."""
    return _DRAWN[hashlib.sha1(svg.encode()).hexdigest()]


def forget_drawn() -> None:
    _DRAWN.clear()


def to_svg(fig) -> str:
    buf = io.StringIO()
    for ax in fig.axes:   # step counts and the like with thousands separators: 20,000, not 20000
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            if axis.get_scale() == "linear" and max(abs(lo), abs(hi)) >= 1000:
                axis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))   # longer labels: fewer
                axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    svg = buf.getvalue()
    _DRAWN[hashlib.sha1(svg.encode()).hexdigest()] = fig
    return svg


def zoom_applies(histories: dict[str, pd.DataFrame], zoom_from: float | None) -> bool:
    """A zoom panel is drawn only when some curve rises above its floor."""
    return zoom_from is not None and any(100 * h["heldout_accuracy"].max() > zoom_from for h in histories.values())


def _log_steps(histories: dict[str, pd.DataFrame]) -> bool:
    """Whether evaluations are dense enough at the start (the first within the first 1% of the run) for a log step
    axis to spread out the rise; else accuracy_curves shows the whole run as the error on a log scale."""
    first = min(int(h.loc[h["step"] > 0, "step"].min()) for h in histories.values() if (h["step"] > 0).any())
    last = max(int(h["step"].max()) for h in histories.values())
    return first <= last // 100


def panels_note(histories: dict[str, pd.DataFrame], zoom_from: float | None = 97.0) -> str:
    """What a caption says of accuracy_curves' panels: '.' for one panel, else how the two read."""
    if not zoom_applies(histories, zoom_from):
        return "."
    left = "the whole run, steps on a log scale" if _log_steps(histories) else "error (100% − accuracy), log scale"
    return f"; left: {left}; right: accuracy above {zoom_from:g}%."


def _marker(x) -> dict:
    """A series of fewer than 10 points shows its points."""
    return {"marker": "o", "ms": 3} if len(x) < 10 else {}


def _mark_drops(ax, drops, labelled: bool = True) -> None:
    """A dotted line, labelled unless the caption says what it is, after each step where the learning rate drops
    tenfold."""
    for b in drops:
        ax.axvline(b, color="black", ls=":", lw=1)
        if labelled:
            ax.annotate("rate ÷10", (b, 0), xycoords=("data", "axes fraction"), xytext=(3, 4),
                        textcoords="offset points", fontsize=7)


def _legend_below(fig, ax, ncol: int = 2, **kwargs) -> None:
    """The legend under the axes, where it can not cover a curve."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(ncol, len(handles)),
                   fontsize=8, frameon=False, **kwargs)


def _readable_log_y(ax) -> None:
    """A log axis spanning up to about three decades gets plain labels at 1, 2 and 5 of each decade: with
    only 10⁰ and 10¹ a reader cannot place a curve at 0.65%."""
    lo, hi = ax.get_ylim()
    if lo > 0 and hi / lo < 2000:
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())


def _train_test(ax, x, train, test, color: str, label: str, held_out: str = "test") -> None:
    """The pair every training figure draws: train dashed and thinner, held-out (test or validation) solid,
    one colour per model."""
    # the dashed line drawn over the solid one: where the two coincide, the dashes still show
    ax.plot(x, test, "-", color=color, lw=1.6, alpha=0.75, label=f"{label}: {held_out}", **_marker(x))
    ax.plot(x, train, "--", color=color, lw=1.2, label=f"{label}: train", zorder=3, **_marker(x))


@_styled
def accuracy_curves(histories: dict[str, pd.DataFrame], zoom_from: float | None = 97.0, held_out: str = "test",
                    drops: tuple[int, ...] = ()):
    """Train (dashed) and held-out (solid) accuracy in % against steps; a second panel zooms on the top;
    learning-rate drops after the steps `drops` dotted."""
    panels = 2 if zoom_applies(histories, zoom_from) else 1
    fig, axes = _subplots(1, panels, figsize=(7.2 if panels == 2 else 4.8, 2.5), squeeze=False)
    for ax in axes[0]:
        for label, h in histories.items():
            _train_test(ax, h["step"], 100 * h["train_accuracy"], 100 * h["heldout_accuracy"], color_for(label), label,
                        held_out)
        ax.set_xlabel("training step (mini-batches)")
        ax.set_ylabel("accuracy (%)")
        _mark_drops(ax, drops)
    if panels == 2:
        first = min(int(h.loc[h["step"] > 0, "step"].min()) for h in histories.values() if (h["step"] > 0).any())
        last = max(int(h["step"].max()) for h in histories.values())
        if _log_steps(histories):
            # Evaluations dense enough to show the rise: a log axis spreads it out, where a linear one would show a
            # step and then a flat line.
            axes[0][0].set_xscale("symlog", linthresh=first, linscale=1.0)   # room between the 0 and the first decade
            # Labels at 0 and at the decades past the linear part only: 10² inside it sat on top of the 0.
            decades = [10 ** k for k in range(len(str(first)) - 1, len(str(last))) if first <= 10 ** k <= last]
            axes[0][0].xaxis.set_major_locator(FixedLocator([0, *decades]))
            axes[0][0].set_title("whole run (steps on a log scale)")
        else:
            # Sparse evaluations: the rise is one segment and the rest a flat line at the top of a 0-100% axis. The
            # error on a log axis shows the whole run, from 90% to below 1%, where the zoom shows the last points.
            ax = axes[0][0]
            ax.clear()
            for label, h in histories.items():
                _train_test(ax, h["step"], (100 * (1 - h["train_accuracy"])).clip(lower=0.01),
                            (100 * (1 - h["heldout_accuracy"])).clip(lower=0.01), color_for(label), label, held_out)
            ax.set_yscale("log")
            _readable_log_y(ax)
            ax.set_xlabel("training step (mini-batches)")
            ax.set_ylabel("error (%), log scale")
            _mark_drops(ax, drops)
            ax.set_title("whole run: error")
    fig.tight_layout()
    _legend_below(fig, axes[0][0])
    if panels == 2:
        ax = axes[0][1]
        top = max(100 * h[["train_accuracy", "heldout_accuracy"]].max().max() for h in histories.values())
        ax.set_ylim(zoom_from, min(100.0, top + 0.3))
        ax.set_title(f"zoom: accuracy above {zoom_from:g}%")
    return fig


@_styled
def accuracy_panels(histories: dict[str, pd.DataFrame], held_out: str = "test", drops: tuple[int, ...] = ()):
    """Accuracy in % against steps, the training sample (left) and the held-out images (right) in panels of their
    own, one colour per model: several models' train and held-out curves in one panel overlap."""
    return _panels(histories, "accuracy", held_out, drops)


@_styled
def loss_panels(histories: dict[str, pd.DataFrame], held_out: str = "test", drops: tuple[int, ...] = ()):
    """Cross-entropy loss against steps, log scale, the training sample (left) and the held-out images (right) on
    one shared axis, one colour per model: four models' eight curves in one panel could not be told apart."""
    return _panels(histories, "loss", held_out, drops)


def _panels(histories: dict[str, pd.DataFrame], metric: str, held_out: str, drops: tuple[int, ...]):
    loss = metric == "loss"
    fig, axes = _subplots(1, 2, figsize=(7.2, 2.3 if loss else 1.9), sharey=loss)
    for ax, col, title in ((axes[0], f"train_{metric}", "training sample"), (axes[1], f"heldout_{metric}", held_out)):
        for label, h in histories.items():
            ax.plot(h["step"], h[col] if loss else 100 * h[col], "-", color=color_for(label), lw=1.4, label=label,
                    **_marker(h["step"]))
        if loss:
            ax.set_yscale("log")
            _readable_log_y(ax)
            ax.set_ylabel("cross-entropy loss (nats)" if ax is axes[0] else "")
        else:
            # each panel on its own scale, set by the last 90% of the steps: the first rise would squash the rest
            last = max(int(h["step"].max()) for h in histories.values())
            later = [100 * h.loc[h["step"] >= 0.1 * last, col] for h in histories.values()
                     if (h["step"] >= 0.1 * last).any()]
            if later:
                lo, hi = min(v.min() for v in later), max(v.max() for v in later)
                pad = max(1.0, 0.05 * (hi - lo))
                ax.set_ylim(max(0.0, lo - pad), min(100.0, hi + pad))
            ax.set_ylabel("accuracy (%)")
        _mark_drops(ax, drops, labelled=not loss)   # a loss falls to the bottom edge, where the labels sit
        ax.set_title(title)
        ax.set_xlabel("training step (mini-batches)")
    fig.tight_layout()
    # four long labels in one row would widen the figure until it prints at half size
    _legend_below(fig, axes[0], ncol=len(histories) if len(histories) <= 3 else 2)
    return fig


@_styled
def loss_curves(histories: dict[str, pd.DataFrame], held_out: str = "test"):
    """Train (dashed) and held-out (solid) cross-entropy loss against steps, log scale."""
    fig, ax = _subplots(figsize=(4.8, 2.5))
    for label, h in histories.items():
        _train_test(ax, h["step"], h["train_loss"], h["heldout_loss"], color_for(label), label, held_out)
    ax.set_yscale("log")
    _readable_log_y(ax)
    ax.set_xlabel("training step (mini-batches)")
    ax.set_ylabel("cross-entropy loss (nats)")
    fig.tight_layout()
    _legend_below(fig, ax)
    return fig


@_styled
def param_bars(tables: dict[str, pd.DataFrame]):
    """Parameters per layer (log scale) for several readings of an architecture."""
    fig, ax = _subplots(figsize=(5.6, 2.4))
    width = 0.8 / max(1, len(tables))
    tables = {label: t[t["params"] > 0].reset_index(drop=True) for label, t in tables.items()}
    first = next(iter(tables.values()))
    for i, (label, t) in enumerate(tables.items()):
        xs = [j + i * width for j in range(len(t))]
        bars = ax.bar(xs, t["params"], width=width, label=label, color=color_for(label))
        # a count equal in every reading is labelled once, over the group; the others over their own bar
        own = [f"{p:,}" if any(len(o) != len(t) or o["params"][j] != p for o in tables.values()) else ""
               for j, p in enumerate(t["params"])]
        ax.bar_label(bars, labels=own, fontsize=7.5, padding=1 + 8 * i)   # side by side, long counts would touch
        ax.set_xticks([j + width * (len(tables) - 1) / 2 for j in range(len(t))], t["layer"])
    for j, p in enumerate(first["params"]):
        if all(len(o) == len(first) and o["params"][j] == p for o in tables.values()):
            ax.annotate(f"{p:,} in each", (j + width * (len(tables) - 1) / 2, p), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", fontsize=7.5)
    ax.set_yscale("log")
    low = min(int(t["params"].min()) for t in tables.values())
    high = max(int(t["params"].max()) for t in tables.values())
    ax.set_ylim(10 ** math.floor(math.log10(low) - 0.5), high * 10)   # room below the smallest bar and above the labels
    ax.set_ylabel("parameters (log scale)")
    fig.tight_layout()
    _legend_below(fig, ax)
    return fig


@_styled
def frontier(sweeps: dict[str, pd.DataFrame], target: float, chosen: dict[str, str | None],
             per_seed: dict[str, pd.DataFrame], level: float | None = None):
    """Validation accuracy against parameters (log scale) for each sweep: every seed a dot, the mean a cross,
    the frontier of the means joined, the choice ringed; the threshold dotted, the level every seed of the choice
    must reach (the threshold plus a margin for the validation sample) dashed."""
    # The text's width, and the axis from a little below the threshold: one seed that failed to train (70%) once
    # stretched it so far that the two lines at 95% and 95.51% merged. Seeds below the axis sit on its bottom edge
    # as triangles, with their accuracy.
    bottom = frontier_bottom(sweeps, target)
    fig, ax = _subplots(figsize=(7.2, 2.8))
    for family, t in sweeps.items():
        c = color_for(family)
        seeds = per_seed[family]
        inside = 100 * seeds["validation_accuracy"] >= bottom
        ax.scatter(seeds.loc[inside, "params"], 100 * seeds.loc[inside, "validation_accuracy"], color=c, s=8,
                   alpha=0.45, label=f"{family}: one seed", zorder=2, clip_on=False)   # whole on the bottom edge too
        shown = 100 * t["validation_mean"] >= bottom
        means_below = {r["params"]: r["validation_mean"] for _, r in t[~shown].iterrows()}
        for params, below in seeds[~inside].groupby("params"):   # one label per network: its seeds below
            ax.scatter([params], [bottom], color=c, marker="v", s=22, zorder=3, clip_on=False)
            values = ", ".join(f"{100 * v:.1f}" for v in sorted(below["validation_accuracy"], reverse=True))
            text = ("seeds " if len(below) > 1 else "seed ") + values + "%"
            if params in means_below:   # one label, not two stacked on the same marker
                text = f"mean {100 * means_below[params]:.1f}% (" + text + ")"
            ax.annotate(text, (params, bottom), textcoords="offset points", xytext=(7, 3), fontsize=7, color=c)
        ax.scatter(t.loc[shown, "params"], 100 * t.loc[shown, "validation_mean"], color=c, marker="x", s=28,
                   label=f"{family}: mean", zorder=3)
        for params, mean in means_below.items():
            ax.scatter([params], [bottom], color=c, marker="v", s=40, facecolors="none", zorder=3, clip_on=False)
            if params not in set(seeds.loc[~inside, "params"]):
                ax.annotate(f"mean {100 * mean:.1f}%", (params, bottom), textcoords="offset points", xytext=(7, 3),
                            fontsize=7, color=c)
        f = t[t["frontier"]]
        ax.plot(f["params"], 100 * f["validation_mean"], "-", color=c, lw=1.2, alpha=0.8, label=f"{family}: none smaller as good")
        pick = t[t["label"] == chosen.get(family)]
        if len(pick):
            ax.scatter(pick["params"], 100 * pick["validation_mean"], s=120, facecolors="none",
                       edgecolors="black", lw=1.3, zorder=4)
            ax.annotate(f"{int(pick['params'].iloc[0]):,}", (pick["params"].iloc[0], 100 * pick["validation_mean"].iloc[0]),
                        textcoords="offset points", xytext=(6, -12), fontsize=8)
    ax.axhline(100 * target, color="black", ls=":", lw=1, label=f"{100 * target:g}%, the sheet's threshold")
    if level is not None:
        ax.axhline(100 * level, color="grey", ls="--", lw=1, label=f"{100 * level:.2f}%, with the validation margin")
    ax.set_xscale("log")
    ax.set_xlabel("free parameters (log scale)")
    ax.set_ylabel("validation accuracy (%)")
    top = max(100 * s["validation_accuracy"].max() for s in per_seed.values())
    ax.set_ylim(bottom, min(100.0, max(top, 100 * (level or target)) + 0.5))
    fig.tight_layout()
    _legend_below(fig, ax, ncol=3)
    return fig


def frontier_bottom(sweeps: dict[str, pd.DataFrame], target: float) -> float:
    """The frontier figure's lowest accuracy (%): 5 points below the threshold, so that the threshold and the margin
    line stand apart, or lower where the frontier itself is; what lies lower is marked on the bottom edge."""
    frontier = [100 * t.loc[t["frontier"], "validation_mean"].min() for t in sweeps.values() if t["frontier"].any()]
    # a whole number: the two questions' captions then name the same kind of edge ("below 89%", not "89.9%")
    return max(0.0, math.floor(min([100 * target - 5.0] + [f - 1.0 for f in frontier])))


@_styled
def accuracy_against(histories: dict[str, pd.DataFrame], x: str, xlabel: str, level: float | None = None):
    """Test accuracy against steps or seconds for several runs; an optional level line."""
    fig, ax = _subplots(figsize=(4.8, 2.4))
    for label, h in histories.items():
        ax.plot(h[x], 100 * h["heldout_accuracy"], "-", color=color_for(label), lw=1.4, label=label, **_marker(h))
    if level is not None:
        ax.axhline(100 * level, color="black", ls=":", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    top = max(100 * h["heldout_accuracy"].max() for h in histories.values())
    ax.set_ylim(max(0, min(90, top - 8)), min(100, top + 1))
    fig.tight_layout()
    _legend_below(fig, ax)
    return fig


@_styled
def overfitting_curves(curves: pd.DataFrame):
    """Left: train (dashed) and test (solid) accuracy; right: their ratio test/train; one colour per data set,
    against epochs on a log scale (the full set's 17 epochs and the 250 examples' 200 share one axis)."""
    fig, (a, b) = _subplots(1, 2, figsize=(7.2, 2.2))
    for data, h in curves.groupby("data", sort=False):
        c = color_for(data)
        h = h[h["step"] > 0]
        marker = "o" if len(h) < 10 else None
        a.plot(h["epoch"], 100 * h["train_accuracy"], "--", color=c, lw=1.2, marker=marker, ms=3, label=f"{data}: train")
        a.plot(h["epoch"], 100 * h["heldout_accuracy"], "-", color=c, lw=1.6, marker=marker, ms=3, label=f"{data}: test")
        b.plot(h["epoch"], h["ratio"], "-", color=c, lw=1.6, marker=marker, ms=3, label=data)
    a.set_ylabel("accuracy (%)")
    b.set_ylabel("test accuracy / train accuracy")
    for ax in (a, b):
        ax.set_xscale("log")
        ax.set_xlabel("epochs (log scale)")
    fig.tight_layout()
    _legend_below(fig, a)
    return fig


@_styled
def sweep_errorbars(summary: pd.DataFrame, x: str, xlabel: str, log_x: bool = False):
    """Mean test accuracy and mean ratio with one-std error bars against a swept setting."""
    fig, (a, b) = _subplots(1, 2, figsize=(7.2, 2.4))
    a.errorbar(summary[x], 100 * summary["test_mean"], yerr=100 * summary["test_std"].fillna(0), fmt="o-",
               color="#1f77b4", capsize=3, lw=1.2, ms=4)
    b.errorbar(summary[x], summary["ratio_mean"], yerr=summary["ratio_std"].fillna(0), fmt="o-",
               color="#9467bd", capsize=3, lw=1.2, ms=4)
    a.set_ylabel("test accuracy (%)")
    b.set_ylabel("test / train accuracy")
    for ax in (a, b):
        ax.set_xlabel(xlabel)
        if log_x:
            ax.set_xscale("log")
    fig.tight_layout()
    return fig


@_styled
def size_families(summary: pd.DataFrame, names: dict[str, str]):
    """Mean test accuracy and ratio (±1 std) against parameters, log scale: one line per way of shrinking."""
    fig, (a, b) = _subplots(1, 2, figsize=(7.2, 2.6))
    for (experiment, g), color in zip(summary.groupby("experiment", sort=False), ("#1f77b4", "#d62728", "#2ca02c")):
        g = g.sort_values("params")
        label = names[experiment].split(" ×")[0].split(":")[0]
        a.errorbar(g["params"], 100 * g["test_mean"].astype(float), yerr=100 * g["test_std"].astype(float).fillna(0),
                   fmt="o-", color=color, capsize=3, lw=1.2, ms=4, label=label)
        b.errorbar(g["params"], g["ratio_mean"].astype(float), yerr=g["ratio_std"].astype(float).fillna(0), fmt="o-",
                   color=color, capsize=3, lw=1.2, ms=4)
    a.set_ylabel("test accuracy (%)")
    b.set_ylabel("test / train accuracy")
    for ax in (a, b):
        ax.set_xlabel("parameters (log scale)")
        ax.set_xscale("log")
    a.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


@_styled
def error_curves(histories: dict[str, pd.DataFrame], boundaries: tuple[int, ...] = (),
                 colors: dict[str, str] | None = None, held_out: str = "test"):
    """Train (dashed) and held-out (solid) error in % against steps, log scale; learning-rate drops dotted."""
    # narrower than the text's half width allows, so that beside the text it is scaled down less
    fig, ax = _subplots(figsize=(4.2, 2.9))
    for label, h in histories.items():
        h = h[h["step"] > 0]   # the untrained network's ~90% would squash the scale
        _train_test(ax, h["step"], 100 * (1 - h["train_accuracy"]), 100 * (1 - h["heldout_accuracy"]),
                    (colors or {}).get(label) or color_for(label), label, held_out)
    for b in boundaries:
        ax.axvline(b, color="black", ls=":", lw=1)
        ax.annotate("learning rate ÷10", (b, 1), xycoords=("data", "axes fraction"), xytext=(3, -10),
                    textcoords="offset points", fontsize=7)
    ax.set_yscale("log")
    _readable_log_y(ax)
    ax.set_xlabel("training step (mini-batches)")
    ax.set_ylabel("error (%, log scale)")
    fig.tight_layout()
    _legend_below(fig, ax, ncol=1)
    return fig


@_styled
def learning_rate_sweep(curves: pd.DataFrame, chosen: str):
    """Validation error (left) and training-sample loss (right) against steps, one colour per rate."""
    fig, (a, b) = _subplots(1, 2, figsize=(7.2, 2.5))
    curves = curves.assign(run=[f"{float(r):g}" for r in curves["run"]])   # CSV turns "0.01" into 0.01
    rates = list(dict.fromkeys(curves["run"]))
    # Cool to warm with the rate, but hues far enough apart to tell neighbours apart (viridis's were not).
    ordered = ["#2c4fb4", "#1b9e9e", "#4d9a1e", "#c79300", "#e0600b", "#b2182b"]
    cmap = matplotlib.colormaps["viridis"]
    for i, rate in enumerate(rates):
        h = curves[(curves["run"] == rate) & (curves["step"] > 0)]
        c = ordered[i] if len(rates) <= len(ordered) else cmap(0.9 * i / max(1, len(rates) - 1))
        lw = 2.4 if rate == chosen else 1.2
        lab = f"{rate}" + (" (chosen)" if rate == chosen else "")
        a.plot(h["step"], 100 * (1 - h["heldout_accuracy"]), "-", color=c, lw=lw, label=lab)
        b.plot(h["step"], h["train_loss"], "-", color=c, lw=lw, label=lab)
    a.set_ylabel("validation error (%, log scale)")
    b.set_ylabel("training loss (nats, log scale)")
    for ax in (a, b):
        ax.set_yscale("log")
        _readable_log_y(ax)
        ax.set_xlabel("training step (mini-batches)")
    fig.tight_layout()
    _legend_below(fig, a, ncol=6, title="learning rate", title_fontsize=8)
    return fig


@_styled
def pair_map(by_pair: pd.DataFrame, held_out: list, models: tuple[str, ...]):
    """Sum accuracy in % by digit pair (row: left digit, column: right digit), one map per model; the held-out
    combinations framed."""
    import numpy as np
    from matplotlib.patches import Rectangle

    fig, axes = _subplots(1, len(models), figsize=(3.3 * len(models) + 0.4, 3.2))   # square maps, side by side
    axes = np.atleast_1d(axes)
    for ax, model in zip(axes, models):
        g = by_pair[by_pair["model"] == model]
        m = np.full((10, 10), np.nan)
        m[g["left"].astype(int), g["right"].astype(int)] = 100 * g["sum_accuracy"].astype(float)
        im = ax.imshow(m, cmap="viridis", vmin=0, vmax=100)   # sequential and readable without red-green vision
        ax.grid(False)
        for i in range(10):
            for j in range(10):
                if m[i, j] == m[i, j]:
                    # white on the dark low end of the colour map, black on the light high end
                    ax.text(j, i, f"{m[i, j]:.0f}", ha="center", va="center", fontsize=7,
                            color="white" if m[i, j] < 60 else "black")
        for a, b in held_out:
            ax.add_patch(Rectangle((b - 0.5, a - 0.5), 1, 1, fill=False, lw=1.6, ec="red"))   # seen on both ends
        ax.set_xticks(range(10))
        ax.set_yticks(range(10))
        ax.set_xlabel("right digit")
        ax.set_ylabel("left digit")
        ax.set_title(model, fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.94, 1))
    _colour_bar(fig, im, axes[-1], "sum accuracy (%)")
    return fig


def _colour_bar(fig, im, ax, label: str) -> None:
    """A colour bar beside ax, as tall as it (placed after tight_layout, which leaves room for it at the right)."""
    ax.apply_aspect()   # an image's axes shrink to its aspect only when drawn: the bar must match the image
    box = ax.get_position()
    bar = fig.colorbar(im, cax=fig.add_axes((box.x1 + 0.015, box.y0, 0.015, box.height)))
    bar.ax.tick_params(labelsize=7, length=2, pad=1)
    bar.set_label(label, fontsize=7)
    bar.outline.set_linewidth(0.5)


@_styled
def digit_templates(templates: pd.DataFrame, names: tuple[str, ...]):
    """Each model's ten 28 x 28 weight templates (one row per model), red positive, blue negative, one symmetric
    scale per model."""
    import numpy as np

    fig, axes = _subplots(len(names), 10, figsize=(7.6, 0.95 * len(names) + 0.3))
    axes = np.atleast_2d(axes)
    images = []
    for row, name in zip(axes, names):
        cols = [c for c in templates.columns if c.startswith(name + " ")]
        scale = float(np.abs(templates[cols].to_numpy()).max()) or 1.0
        for ax, c in zip(row, cols):
            im = ax.imshow(templates[c].to_numpy().reshape(28, 28), cmap="RdBu_r", vmin=-scale, vmax=scale)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            ax.set_title(c.rsplit(" ", 1)[1], fontsize=7, pad=2)
        row[0].set_ylabel(name.replace(" ", "\n"), fontsize=7)
        images.append(im)
    fig.tight_layout(pad=0.3, w_pad=0.2, h_pad=0.4, rect=(0, 0, 0.93, 1))
    for row, im in zip(axes, images):   # each model's own scale: a colour bar per row, beside it
        box = row[-1].get_position()
        bar = fig.colorbar(im, cax=fig.add_axes((box.x1 + 0.012, box.y0, 0.012, box.height)))
        bar.ax.tick_params(labelsize=6, length=2, pad=1)
        bar.set_label("weight", fontsize=6, labelpad=2)
        bar.outline.set_linewidth(0.5)
    return fig


@_styled
def misclassified_digits(t: pd.DataFrame):
    """The images of a table of errors (columns px0..px783, true, predicted, confidence), two rows of eight, each
    titled "true → predicted (probability)"."""
    import numpy as np

    t = t.dropna(subset=["px0"])
    fig, axes = _subplots(2, (len(t) + 1) // 2, figsize=(7.2, 2.3))
    for ax in np.ravel(axes):
        ax.set_axis_off()
    for ax, r in zip(np.ravel(axes), t.itertuples()):
        img = np.array([getattr(r, f"px{i}") for i in range(784)], dtype=float).reshape(28, 28)
        ax.imshow(img, cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(f"{int(r.true)} → {int(r.predicted)} ({100 * r.confidence:.0f}%)", fontsize=7, pad=2)
    fig.tight_layout(pad=0.3, w_pad=0.3, h_pad=0.6)
    return fig


@_styled
def confusion_matrix(confusion: pd.DataFrame):
    """Row-normalised confusion matrix in %: rows the true class, columns the predicted one."""
    import numpy as np

    m = confusion.to_numpy(dtype=float)
    m = 100 * m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    names = list(confusion.columns)
    fig, ax = _subplots(figsize=(5.9, 4.6))
    im = ax.imshow(m, cmap="Blues", vmin=0, vmax=100)
    ax.grid(False)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{m[i, j]:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if m[i, j] > 60 else "black")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7.5)
    ax.set_yticks(range(len(names)), names, fontsize=7.5)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.tight_layout(rect=(0, 0, 0.9, 1))
    _colour_bar(fig, im, ax, "share of the true class (%)")
    return fig
