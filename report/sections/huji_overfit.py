"""Report sections: HUJI 67103, question 4: overfitting on 250 examples (experiments.huji_overfit)."""

from __future__ import annotations

import pandas as pd

from ex1.stats import welch

from .. import figures
from ..figures import to_svg
from .common import Figure, Table, num, one_line, pct, pm, run_of, sci, section, shape, slug

NAMES = {"width": "width ×{:g}", "fc1": "fc1 alone: {:g} units", "conv": "convolutions alone ×{:g}"}


def times_word(x: float) -> str:
    """'twice', 'three times', or '2.5 times': how many times one length is another, as a sentence says it."""
    words = {2: "twice", 3: "three times", 4: "four times"}
    return words[int(x)] if x == int(x) and int(x) in words else f"{x:g} times"


def matched(*rows) -> int:
    """The step every compared summary row was read at; a comparison of runs read at different steps is refused."""
    steps = {int(s) for r in rows for s in (r.read_step, r.read_step_min)}
    if len(steps) != 1:
        raise ValueError(f"question 4 compares runs read at different steps ({sorted(steps)}): compare them at one step")
    return steps.pop()


def difference(a, b):
    """b's mean test accuracy minus a's, Welch's interval, after checking both were read at one step."""
    matched(a, b)
    return welch(a.test_mean, a.test_std, a.n, b.test_mean, b.test_std, b.n)


def verdict(d) -> str:
    return {"gain": "a gain whose interval excludes zero", "loss": "a loss whose interval excludes zero",
            "indistinct": "not distinguishable from seed noise"}[d.direction]


def network_name(r) -> str:
    if r.experiment == "dropout":
        return "1 (no dropout)" if r.setting == 1.0 else f"{r.setting:g}"
    return NAMES[r.experiment].format(r.setting)


def described(r) -> str:
    """A variant as a sentence names it."""
    return f"keep probability {r.setting:g}" if r.experiment == "dropout" else network_name(r)


def chosen(rows: pd.DataFrame):
    """The row with the best mean validation accuracy: the choice never looks at the test set."""
    rows = rows.infer_objects()
    return rows.loc[rows["validation_mean"].astype(float).idxmax()]


def runner_up(rows: pd.DataFrame, pick):
    """The second best row on the validation images, None where there is none."""
    rest = rows[rows["setting"] != pick.setting]
    return chosen(rest) if len(rest) else None


def no_gain_reason(smaller, base) -> str:
    """Why no smaller network helped, as their training accuracies show: one that still fits every one of the 250
    images has kept the capacity to memorise them."""
    fit = smaller[smaller["train_mean"].astype(float) >= 1.0 - 1e-9]
    if fit.empty:
        return ""
    s = (f" So the gain the sheet expects is not reproduced here: {len(fit)} of the {len(smaller)} smaller networks, "
         f"down to {num(int(fit['params'].min()))} parameters, still fit all 250 training images (100%), so shrinking "
         "them left the capacity to memorise")
    rest = smaller[smaller["train_mean"].astype(float) < 1.0 - 1e-9]
    if not rest.empty:
        r = rest.loc[rest["params"].astype(int).idxmin()]
        lower = float(r.test_mean) < float(base.test_mean)
        s += (f"; the smallest, with {num(int(r.params))}, fits {pct(r.train_mean)} of them"
              + (f" and scores lower on test ({pct(r.test_mean)})" if lower else ""))
    return s + "."


def smaller_sentence(base, pick, runner_up=None, smaller=None) -> str:
    """The chosen smaller network against the full-size one, on test, at the same step; where the validation images
    keep the full size, the best smaller network on them (`runner_up`) and what it would change."""
    if pick.params >= base.params:
        s = ("On the validation images no smaller network beats the full-size one "
             f"({pct(base.validation_mean)}), so the choice keeps the full size.")
        if runner_up is not None:
            d = difference(base, runner_up)
            s += (f" The best smaller one there, {network_name(runner_up)} ({pct(runner_up.validation_mean)}), with "
                  f"{num(runner_up.params)} parameters ({base.params / runner_up.params:.1f} times fewer), scores "
                  f"{pct(runner_up.test_mean)} on test against {pct(base.test_mean)}: {d.plain()}, {verdict(d)}.")
        return s + (no_gain_reason(smaller, base) if smaller is not None else "")
    d = difference(base, pick)
    return (f"The validation images choose <b>{network_name(pick)}</b> ({pct(pick.validation_mean)} against "
            f"{pct(base.validation_mean)} at full size): {num(pick.params)} parameters, "
            f"{base.params / pick.params:.0f} times fewer than {num(base.params)}. On test it scores "
            f"{pct(pick.test_mean)} against {pct(base.test_mean)}: {d.plain()}, {verdict(d)}; its ratio is "
            f"{pick.ratio_mean:.3f} against {base.ratio_mean:.3f}.")


def validation_margin(pick, runner_up) -> str:
    """How far the choice leads the next setting on the validation images, and whether seed noise covers it: a
    choice by 0.2 points among three seeds is a ranking, not a finding."""
    if runner_up is None:
        return ""
    d = welch(runner_up.validation_mean, runner_up.validation_std, runner_up.n,
              pick.validation_mean, pick.validation_std, pick.n)
    noise = "within seed noise" if d.direction == "indistinct" else "beyond seed noise"
    return f", {100 * d.diff:.2f} points above {described(runner_up)} there, {noise}"


def dropout_sentence(base, pick, best_test, runner_up=None) -> str:
    if pick.setting == 1.0:
        head = ("The validation images choose <b>no dropout</b>: no keep probability below 1 beats it on them "
                f"({pct(base.validation_mean)}{validation_margin(pick, runner_up)}).")
    else:
        d = difference(base, pick)
        head = (f"The validation images choose keep probability <b>{pick.setting:g}</b> "
                f"({pct(pick.validation_mean)} on them{validation_margin(pick, runner_up)}). On test it scores "
                f"{pct(pick.test_mean)} against "
                f"{pct(base.test_mean)} without dropout: {d.plain()}, {verdict(d)}; its ratio is "
                f"{pick.ratio_mean:.3f} against {base.ratio_mean:.3f}.")
    if best_test.setting != pick.setting:
        head += (f" The highest mean test accuracy, {pct(best_test.test_mean)}, is at keep probability "
                 f"{best_test.setting:g}, which the validation images rank below it.")
    return head


def ratio_sentence(best_ratio, best_test: float, base_ratio: float, underfit: float = 0.99) -> str:
    """The best ratio (against the full-size network's), and whether it comes from fitting the training examples
    less: a network that fits under `underfit` of them (the others reach 100%) and scores below the best test
    accuracy of its table raises the ratio by lowering its denominator."""
    if f"{best_ratio.ratio_mean:.3f}" == f"{base_ratio:.3f}":
        return f"None of them improves the full-size network's ratio, {base_ratio:.3f}, in the third decimal."
    s = (f"The best ratio, {best_ratio.ratio_mean:.3f}, comes with "
         f"{described(best_ratio)} at {pct(best_ratio.test_mean)} test accuracy")
    if best_ratio.train_mean < underfit and best_ratio.test_mean < best_test:
        return s + (f", which fits only {pct(best_ratio.train_mean)} of its training examples and scores "
                    f"{100 * (best_test - best_ratio.test_mean):.2f} points below the best on test: its ratio is "
                    "highest partly because it underfits.")
    return s + "."


def versus_sentence(size, drop) -> str:
    """The two chosen remedies against each other: both read at the same step, against the same baseline."""
    if (size.experiment == "width" and size.setting == 1.0) or drop.setting == 1.0:
        return ""   # one of them is the full network without dropout: the sentence above already compares it
    d = difference(size, drop)
    lead = ("the chosen dropout setting scores higher than the chosen smaller network" if d.direction == "gain" else
            "the chosen smaller network scores higher than the chosen dropout setting" if d.direction == "loss"
            else "neither of the two chosen remedies scores higher than the other beyond seed noise")
    return f"Chosen dropout minus chosen smaller network on test: {d.plain()}; on 250 examples {lead}."


def flat_sentence(summary: pd.DataFrame, window: int) -> str:
    """How much the training loss still moves over the last `window` steps: whether the common length suffices."""
    moved = summary.assign(change=summary["loss_mean"] - summary["loss_before_mean"]).dropna(subset=["change"])
    if moved.empty:
        return ""
    worst = moved.loc[moved["change"].abs().idxmax()]
    still = moved[moved["change"] < -0.25 * moved["loss_before_mean"]]   # still falling by more than a quarter
    s = (f"Over the last {num(window)} steps the mean training loss of every variant changes by at most "
         f"{abs(worst.change):.3f} (largest for {described(worst)}: {sci(worst.loss_before_mean)} to "
         f"{sci(worst.loss_mean)}).")
    if len(still):
        near_zero = int((still["loss_before_mean"] < 0.05).sum())   # a loss under 0.05: the examples are fitted
        s += (f" {len(still)} of {len(moved)} variants still lose more than a quarter of their training loss over "
              "those steps" + (f", {near_zero} of them from losses already below 0.05" if near_zero else "")
              + ": the comparison is at a common length, not at a plateau of every variant.")
    return s


def fit_sentence(summary: pd.DataFrame, fit: float = 0.99) -> str:
    """Whether the common length lets every network without dropout fit its training examples."""
    plain = summary[summary["experiment"] != "dropout"]
    slowest = plain.loc[plain["train_mean"].astype(float).idxmin()]
    if slowest.train_mean >= fit:
        return (f"By then every network without dropout fits its training examples (the lowest mean training accuracy, "
                f"{pct(slowest.train_mean)}, is {network_name(slowest)}'s).")
    return (f"Not every network fits its training examples by then: {network_name(slowest)} reaches a mean training "
            f"accuracy of only {pct(slowest.train_mean)}.")


@section("huji.4")
def huji_4(result, record) -> dict:
    curves, summary, facts = result.tables["curves"], result.tables["summary"], result.facts
    full = curves[curves["data"] == "all 60,000 examples"].iloc[-1]
    small = curves[curves["data"] == "250 examples"].iloc[-1]
    sized = summary[summary["experiment"] != "dropout"].sort_values(["experiment", "params"], ascending=[False, False])
    base = summary[(summary["experiment"] == "width") & (summary["setting"] == 1.0)].iloc[0]
    drop = pd.concat([base.to_frame().T.assign(experiment="dropout"),
                      summary[summary["experiment"] == "dropout"]]).sort_values("setting", ascending=False)
    drop = drop.infer_objects().astype({c: float for c in ("setting", "validation_mean", "test_mean", "ratio_mean",
                                                           "train_mean")})
    n_seeds = len(facts["seeds"])
    step = matched(*summary.itertuples())

    def rows(t):
        def n(r):
            return None if r.n == n_seeds else int(r.n)
        return [[one_line(network_name(r)), num(r.params), pm(r.validation_mean, r.validation_std, n(r)),
                 pm(r.test_mean, r.test_std, n(r)), pm(r.ratio_mean, r.ratio_std, n(r), 1, 3), pct(r.train_mean)]
                for r in t.itertuples()]

    header = ["network", "parameters", "validation (%)", "test (%)", "ratio", "train"]
    size_t = Table(slug("huji.4", "size"), f"Fewer parameters on the 250 examples: mean ± std over {n_seeds} seeds "
                   f"(train: the mean), read at step {num(step)}.", header, rows(sized), ["l", "r", "r", "r", "r", "r"])
    drop_t = Table(slug("huji.4", "dropout"), f"Dropout on the 250 examples, by keep probability, read at step "
                   f"{num(step)}; columns as for the smaller networks.", ["keep probability"] + header[2:],
                   [r[:1] + r[2:] for r in rows(drop)],
                   ["l", "r", "r", "r", "r"])
    loss_t = Table(slug("huji.4", "loss"), f"HUJI 4: the training loss of every variant, mean over {n_seeds} seeds, "
                   f"{num(facts['flat_window'])} steps before the end and at the end (step {num(step)}).",
                   ["network", "training loss before", "at the end"],
                   [[one_line(described(r)), sci(r.loss_before_mean), sci(r.loss_mean)]
                    for r in pd.concat([sized, drop.iloc[1:]]).itertuples()], ["l", "r", "r"], kind="more")
    smaller = summary[(summary["experiment"] != "dropout") & (summary["params"] < base.params)]
    pick_size = chosen(pd.concat([smaller, base.to_frame().T]))
    pick_drop = chosen(drop)
    best_test_drop = drop.loc[drop["test_mean"].idxmax()]

    layers = result.tables["layers"]
    layers = layers[layers["params"] > 0]
    layer_names = list(dict.fromkeys(layers["layer"]))
    layer_rows = []
    for name, g in layers.groupby("network", sort=False):
        g = g.set_index("layer")
        layer_rows.append([name] + [f"{shape(g.loc[n, 'output_shape'])} ({num(g.loc[n, 'params'])})"
                                    if n in g.index else "" for n in layer_names] + [num(int(g["params"].sum()))])
    layers_t = Table(slug("huji.4", "layers"), "The networks of the size experiment, layer by layer: output shape and, "
                     "in brackets, parameters of each layer with parameters (pooling, flattening and dropout have "
                     "none).", ["network"] + layer_names + ["total"], layer_rows,
                     ["l"] + ["r"] * (len(layer_names) + 1), kind="architectures")
    fig_curves = Figure(slug("huji.4", "curves"), to_svg(figures.overfitting_curves(curves)),
                        "All 60,000 training examples against 250: training accuracy (dashed; a fixed sample of "
                        f"{num(run_of(record, 'all 60,000 examples')['config']['train_eval_size'] or 60000)} for the full "
                        "set), test accuracy (solid) and their ratio (right) against epochs.")
    fig_size = Figure(slug("huji.4", "size-fig"), to_svg(figures.size_families(sized, NAMES)),
                      f"Networks with fewer parameters on 250 MNIST examples, read at step {num(step)}: mean test "
                      "accuracy and ratio against parameters, ±1 std over seeds, one line per way of shrinking.",
                      kind="more")
    fig_drop = Figure(slug("huji.4", "drop-fig"), to_svg(figures.sweep_errorbars(drop, "setting", "keep probability")),
                      "Dropout on 250 MNIST examples, the HUJI network with dropout after every hidden layer: mean "
                      f"test accuracy and ratio against the keep probability at step {num(step)}, ±1 std over the "
                      "seeds.", kind="more")
    return {"layers": layers_t, "full": full, "small": small, "size": size_t, "drop": drop_t, "loss": loss_t,
            "base": base,
            "facts": facts, "step": step, "epochs": step * 50 / (10 * facts["per_class"]),
            "curve_times": times_word(step / facts["curve_steps"]),
            # memorises: the 250-example run's ratio is lower than the full run's by more than 2 points
            "memorises": bool(small["ratio"] < full["ratio"] - 0.02),
            "smaller": smaller_sentence(base, pick_size, chosen(smaller) if len(smaller) else None, smaller),
            "dropout": dropout_sentence(base, pick_drop, best_test_drop, runner_up(drop, pick_drop)),
            "size_ratio": ratio_sentence(sized.loc[sized["ratio_mean"].astype(float).idxmax()],
                                         float(sized["test_mean"].max()), float(base.ratio_mean)),
            "drop_ratio": ratio_sentence(drop.loc[drop["ratio_mean"].idxmax()], float(drop["test_mean"].max()),
                                         float(base.ratio_mean)),
            "versus": versus_sentence(pick_size, pick_drop),
            "flat": flat_sentence(summary, facts["flat_window"]), "fits": fit_sentence(summary),
            "fig_curves": fig_curves, "fig_size": fig_size, "fig_drop": fig_drop,
            "run_full": run_of(record, "all 60,000 examples"), "run_small": run_of(record, "250 examples")}
