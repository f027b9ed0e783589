"""Report sections: HUJI 67103, question 4: overfitting on 250 examples (experiments.huji_overfit)."""

from __future__ import annotations


import pandas as pd

from ex1.stats import contrast, signed, welch

from .. import figures
from ..figures import to_svg
from .common import Figure, Table, num, one_line, pct, pm, run_of, section, shape, slug



def accuracy_difference(a, b):
    """Welch's test of b's mean test accuracy minus a's, from two summary rows (test_mean, test_std, n)."""
    return welch(a.test_mean, a.test_std, a.n, b.test_mean, b.test_std, b.n)


def runner_up_sentence(runner_up, best) -> str:
    """Whether the best setting is ahead of the next best beyond seed noise; a ranking of means alone says little."""
    if runner_up is None:
        return ""
    d = accuracy_difference(runner_up, best)
    name = f"keep probability {runner_up.setting:g} ({pct(runner_up.test_mean)})"
    if d.significant:
        return f" It is ahead of the next best, {name}, beyond seed noise: {d.points()}."
    return f" The next best, {name}, cannot be told apart from it: {d.points()}."


def underfit_sentence(r, fit: float) -> str:
    """A best ratio that comes from fitting the training examples badly says so."""
    if r.train_mean >= fit:
        return ""
    return (f" There the network fits only {pct(r.train_mean)} of its training examples: the ratio is near 1 because it "
            "underfits, not because it generalises.")


def drop_vs_size_sentence(size, size_base, drop, drop_base, steps: int, fit: float) -> str:
    """Which helps more, the best dropout or the best network with fewer parameters: each one's test-accuracy gain
    over the full-size network without dropout read the same way as itself (the size table reads its runs at
    `fit` training accuracy, the dropout table after `steps`), the two gains compared by Welch's interval."""
    if size is None:
        return ""
    d = contrast([(1, drop.test_mean, drop.test_std, drop.n), (-1, drop_base.test_mean, drop_base.test_std, drop_base.n),
                  (-1, size.test_mean, size.test_std, size.n), (1, size_base.test_mean, size_base.test_std, size_base.n)])
    head = (f"The two tables evaluate their runs at different points, so each method is measured against the "
            f"full-size network without dropout evaluated at the same point: the best dropout gains "
            f"{signed(100 * (drop.test_mean - drop_base.test_mean))} points over it after {num(steps)} steps, the "
            f"best smaller network {signed(100 * (size.test_mean - size_base.test_mean))} points over it at "
            f"{pct(fit, 0)} training accuracy (or at the cap). Dropout's gain minus shrinking's: "
            f"{d.points(test='Welch–Satterthwaite contrast')}, the four groups "
            "of runs taken as independent although they share seeds; both best settings were picked on test "
            "accuracy, which inflates both gains, by amounts that need not cancel")
    caution = ("a lead that picking both settings on the test set may inflate, so these runs suggest, without "
               "establishing, that")
    if d.significant and d.diff > 0:
        return head + (f"; in these runs dropout's gain is the larger, {caution} dropout helps more on 250 examples. "
                       "A reason to expect it: dropout keeps the network's capacity, and units cannot rely on each "
                       "other (Srivastava et al., \u201cDropout: a simple way to prevent neural networks from "
                       "overfitting\u201d, JMLR 15, 2014).")
    if d.significant:
        return head + f"; in these runs shrinking's gain is the larger, {caution} shrinking helps more on 250 examples."
    return head + "; neither can be said to help more."


def trained_until(r, facts) -> str:
    """Where a size variant was read: at FIT training accuracy (mean step over its seeds) or at the cap."""
    fit, n, hit = pct(facts["fit"], 0), int(r.n), int(r.fitted)
    if hit == n:
        return f"step {num(round(r.stop_mean))} (mean)"
    if hit == 0:
        return "the cap"
    return f"{fit} on {hit} of {n} seeds, the cap on the rest"


def fc1_sentence(base, fc1) -> str:
    """The first dense layer alone shrunk, against the full-size network, decided by Welch's interval."""
    d = accuracy_difference(base, fc1)
    verdict = ("a gain whose interval excludes zero" if d.significant and d.diff > 0 else
               "a loss whose interval excludes zero" if d.significant else "not distinguishable from seed noise")
    return (f"Shrinking only the first fully connected layer, which holds most of the parameters, to "
            f"{int(fc1.setting)} units leaves {num(fc1.params)} parameters ({1 - fc1.params / base.params:.0%} fewer) "
            f"and a test accuracy of {pct(fc1.test_mean)} against {pct(base.test_mean)} at full size: "
            f"{d.points()}, {verdict}; its ratio is {fc1.ratio_mean:.3f} against {base.ratio_mean:.3f}.")


@section("huji.4")
def huji_4(result, record) -> dict:
    curves, summary = result.tables["curves"], result.tables["summary"]
    facts = result.facts
    full = curves[curves["data"] == "all 60,000 examples"].iloc[-1]
    small = curves[curves["data"] == "250 examples"].iloc[-1]
    size = summary[summary["experiment"] == "size"].sort_values("params").reset_index(drop=True)
    fc1 = summary[summary["experiment"] == "fc1"].reset_index(drop=True)
    drop = summary[summary["experiment"] == "dropout"].sort_values("setting", ascending=False).reset_index(drop=True)
    base = size[size["setting"] == 1.0].iloc[0]
    per_seed = result.tables["per_seed"]
    keep1 = per_seed[(per_seed["experiment"] == "dropout") & (per_seed["setting"] == 1.0)
                     & (per_seed["seed"] == facts["seeds"][0])]
    # the 250-example curve and the keep-1 run of its seed are one recipe trained twice (evaluated at other steps)
    repeat = ("with the same result" if len(keep1) and keep1["test_accuracy"].iloc[0] == small["test_accuracy"]
              else f"ending at {pct(keep1['test_accuracy'].iloc[0])} test accuracy there" if len(keep1) else "")

    def rows(t, first, trained=False):
        # the caption gives the number of seeds; a cell names it only where a setting has fewer
        def n(r):
            return None if r.n == len(facts["seeds"]) else int(r.n)
        return [[first(r), num(r.params), pm(r.test_mean, r.test_std, n(r)), pm(r.ratio_mean, r.ratio_std, n(r), 1, 3),
                 pct(r.train_mean)] + ([one_line(trained_until(r, facts))] if trained else []) for r in t.itertuples()]

    size_t = Table(slug("huji.4", "size"), f"Smaller networks on the 250 examples, {len(facts['seeds'])} seeds each: "
                   "test accuracy in % and test/train ratio, mean ± standard deviation, read where each run first "
                   f"reaches {pct(facts['fit'], 0)} training accuracy or at the cap of "
                   f"{num(facts['size_cap_steps'])} steps.",
                   ["network", "parameters", "test accuracy (%)", "ratio", "train accuracy",
                    f"read at {pct(facts['fit'], 0)} train"],
                   rows(size, lambda r: one_line(f"width ×{r.setting:g}"), True)
                   + rows(fc1, lambda r: one_line(f"fc1 alone: {int(r.setting)} units"), True),
                   ["l", "r", "r", "r", "r", "l"])
    drop_t = Table(slug("huji.4", "dropout"), "Dropout after every hidden layer of the original network, on the 250 "
                   f"examples: keep probability (Keras rate = 1 − keep), mean ± standard deviation over {len(facts['seeds'])} seeds.",
                   ["keep probability", "parameters", "test accuracy (%)", "ratio", "train accuracy"],
                   rows(drop, lambda r: "1 (no dropout)" if r.setting == 1.0 else f"{r.setting:g} (rate {1 - r.setting:g})"),
                   ["l", "r", "r", "r", "r"])
    best_size = size.loc[size["test_mean"].idxmax()]
    best_ratio_size = size.loc[size["ratio_mean"].idxmax()]
    # the dropout runs are compared with the same network trained alike without dropout (keep 1)
    no_drop = drop[drop["setting"] == 1.0]
    drop_base = no_drop.iloc[0] if len(no_drop) else base
    dropped = drop[drop["setting"] < 1.0]
    best_drop = dropped.loc[dropped["test_mean"].idxmax()]
    ranked = dropped.sort_values("test_mean", ascending=False)
    runner_up = ranked.iloc[1] if len(ranked) > 1 else None
    best_ratio_drop = dropped.loc[dropped["ratio_mean"].idxmax()]
    # the best network with fewer parameters: a narrower width or the first dense layer alone shrunk
    smaller = pd.concat([size[size["setting"] < 1.0], fc1], ignore_index=True)
    best_smaller = smaller.loc[smaller["test_mean"].idxmax()] if len(smaller) else None

    def gain(r):
        return r.test_mean - base.test_mean, r.ratio_mean - base.ratio_mean

    def against_base(r):
        return accuracy_difference(base, r)

    wl = result.tables["width_layers"]
    wl = wl[wl["params"] > 0]
    widths = list(dict.fromkeys(wl["width"]))

    def width_name(w):
        try:
            return f"×{float(w):g}"
        except ValueError:  # the variant with only the first dense layer reduced
            return str(w)

    # one row per network, one column per layer: seven networks side by side would run past the margin
    layer_names = list(dict.fromkeys(wl["layer"]))
    layer_rows = []
    for w in widths:
        g = wl[wl["width"] == w].set_index("layer")
        layer_rows.append([width_name(w)] + [f"{shape(g.loc[n, 'output_shape'])} ({num(g.loc[n, 'params'])})"
                                             if n in g.index else "" for n in layer_names]
                          + [num(int(g["params"].sum()))])
    layers_t = Table(slug("huji.4", "layers"), "The networks of the size experiment (widths scaled by the factor "
                     "shown, or only the first fully connected layer reduced), layer by layer: output shape and, in "
                     "brackets, parameters of each layer with parameters (pooling, flattening and dropout have none).",
                     ["network"] + layer_names + ["total"], layer_rows, ["l"] + ["r"] * (len(layer_names) + 1),
                     kind="architectures")
    fig_curves = Figure(slug("huji.4", "curves"), to_svg(figures.overfitting_curves(curves)),
                        "The HUJI network without dropout on all 60,000 MNIST training examples and on 250 of them: "
                        "accuracy on the training examples (dashed; a fixed sample of "
                        f"{num(run_of(record, 'all 60,000 examples')['config']['train_eval_size'] or 60000)} for the full "
                        "set, all 250 for the small one) and on the test set (solid), and their ratio test/train "
                        "(right), against epochs; the first evaluation (step 0) is left out.")
    fig_size = Figure(slug("huji.4", "size-fig"), to_svg(figures.sweep_errorbars(size, "params", "parameters (log scale)",
                      log_x=True)), "Narrower versions of the HUJI network on 250 MNIST examples: mean test accuracy and ratio, ±1 std over seeds.",
                      kind="more")
    fig_drop = Figure(slug("huji.4", "drop-fig"), to_svg(figures.sweep_errorbars(drop, "setting", "keep probability")),
                      "Dropout on 250 MNIST examples, the HUJI network with dropout after every hidden layer: mean "
                      "test accuracy and ratio against the keep probability, ±1 std over the seeds.", kind="more")
    return {"repeat": repeat, "layers": layers_t, "full": full, "small": small, "size": size_t, "drop": drop_t, "base": base, "facts": facts,
            # memorises: the 250-example run's ratio is lower than the full run's by more than 2 points
            "memorises": bool(small["ratio"] < full["ratio"] - 0.02),
            "best_size": best_size, "best_ratio_size": best_ratio_size, "best_drop": best_drop,
            "best_ratio_drop": best_ratio_drop, "gain_size": gain(best_size), "gain_drop": gain(best_drop),
            "test_size": against_base(best_size),
            "test_drop": accuracy_difference(drop_base, best_drop),
            "drop_runner_up": runner_up_sentence(runner_up, best_drop),
            "ratio_underfits": underfit_sentence(best_ratio_drop, facts["fit"]),
            "drop_vs_size": drop_vs_size_sentence(best_smaller, base, best_drop, drop_base, facts["small_steps"],
                                                  facts["fit"]),
            "fc1": fc1_sentence(base, fc1.iloc[0]) if len(fc1) else "",
            "fig_curves": fig_curves, "fig_size": fig_size, "fig_drop": fig_drop,
            "run_full": run_of(record, "all 60,000 examples"), "run_small": run_of(record, "250 examples")}
