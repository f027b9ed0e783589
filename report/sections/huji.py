"""Report sections: HUJI 67103, questions 1 and 2 (experiments.huji)."""

from __future__ import annotations


import pandas as pd

from experiments.huji import BASELINE, LINEAR, SOFTMAX

from .. import figures
from ..figures import to_svg
from .common import Figure, Table, check_table, first_step_reaching, num, param_table, pct, run_of, sci, section, shape, slug, tex_grouped


# ----------------------------------------------------------------------------- HUJI 1.1

@section("huji.1.1")
def huji_1_1(result, record) -> dict:
    facts = result.facts
    readings = []
    for r in facts["readings"]:
        t = result.tables[f"params_{r['padding']}"]
        nonzero = t[t["params"] > 0]
        sum_tex = " + ".join(f"{int(p):,}".replace(",", "{,}") for p in nonzero["params"])
        readings.append({
            "padding": r["padding"], "model": r["model"], "hand": r["hand_count"], "keras": r["keras_count"],
            "equal": r["hand_count"] == r["keras_count"],
            "table": param_table("huji.1.1", r["padding"], t,
                                 f"Free parameters layer by layer, '{r['padding']}' padding."),
            "layers": [{"layer": row.layer, "tex": tex_grouped(row.formula_tex), "params": int(row.params),
                        "shape": shape(row.output_shape), "rule": shape(row.size_rule)}
                       for row in nonzero.itertuples()],
            "sum_tex": rf"N_{{\text{{{r['padding']}}}}} = {sum_tex} = {r['hand_count']:,}".replace(",", "{,}"),
            "flatten": shape(t.loc[t["layer"] == "flatten", "output_shape"].iloc[0]),
        })
    first = {l["layer"]: l["params"] for l in readings[0]["layers"]}
    for r in readings:   # a later reading spells out only the layers whose count differs from the first's
        r["changed"] = [l for l in r["layers"] if r is readings[0] or first.get(l["layer"]) != l["params"]]
        unchanged = [l["layer"] for l in r["layers"] if l not in r["changed"]]
        r["unchanged"] = " and ".join(filter(None, [", ".join(unchanged[:-1]), unchanged[-1]])) if unchanged else ""
        r["changes"] = "this layer changes" if len(r["changed"]) == 1 else "these layers change"
    by = {r["padding"]: r for r in readings}
    ratio = by["same"]["hand"] / by["valid"]["hand"]
    fc_share = {p: by[p]["layers"][2]["params"] / by[p]["hand"] for p in by}
    labels = {"valid": BASELINE, "same": f"{BASELINE}, 'same' padding"}
    fig = Figure(slug("huji.1.1", "bars"), to_svg(figures.param_bars(
        {labels.get(p, p): result.tables[f"params_{p}"] for p in by})),
        "Parameters per layer under the two readings (log scale).")
    return {"readings": readings, "trained": facts["trained"], "ratio": ratio, "fc_share": fc_share,
            "all_equal": all(r["equal"] for r in readings), "figures": {"bars": fig}}


# ----------------------------------------------------------------------------- HUJI 1.2

@section("huji.1.2")
def huji_1_2(result, record) -> dict:
    h = result.tables["history"]
    final = result.tables["final"].iloc[0]
    facts = result.facts
    run = run_of(record, BASELINE)
    cfg = run["config"]
    test_acc, train_acc = float(final["test_accuracy"]), float(final["train_accuracy"])
    gap = train_acc - test_acc
    n_train_eval = facts["train_eval_examples"] or facts["train_examples"]
    # Two binomial proportions: a gap inside 1.96 standard errors of their difference is sampling noise.
    se = (train_acc * (1 - train_acc) / n_train_eval + test_acc * (1 - test_acc) / facts["test_examples"]) ** 0.5
    sizes = (f"two samples of {num(n_train_eval)}" if n_train_eval == facts["test_examples"] else
             f"samples of {num(n_train_eval)} and {num(facts['test_examples'])}")
    noise = f"the ±{196 * se:.2f}-point 95% noise of {sizes} images"
    if abs(gap) <= 1.96 * se:
        gap_sentence = (f"Train and test accuracy end {100 * abs(gap):.2f} points apart, within {noise}: no "
                        "measurable generalisation gap.")
    elif gap > 0:
        gap_sentence = (f"Training accuracy ends {100 * gap:.2f} points above test accuracy, more than {noise}: a "
                        "small but real generalisation gap.")
    else:
        gap_sentence = (f"Test accuracy ends {100 * -gap:.2f} points above training accuracy, more than {noise}: "
                        "at this point the training images are the harder ones.")
    sheet_step = first_step_reaching(h, "heldout_accuracy", facts["sheet_target"])
    curves = {BASELINE: h}
    fig = Figure(slug("huji.1.2", "acc"), to_svg(figures.accuracy_curves(curves)),
                 f"Train accuracy (dashed, {num(n_train_eval)} fixed training images) and test accuracy (solid, "
                 f"{num(facts['test_examples'])} test images) every {cfg['eval_every']} steps"
                 + figures.panels_note(curves))
    loss = Figure(slug("huji.1.2", "loss"), to_svg(figures.loss_curves({BASELINE: h})),
                  "The HUJI network on MNIST: cross-entropy loss on the same training sample and test set (log scale).",
                  kind="more")
    return {
        "errors": errors_context(result),
        "final": final, "test_acc": test_acc, "train_acc": train_acc, "gap_sentence": gap_sentence,
        "meets_sheet": test_acc > facts["sheet_target"], "meets_tutorial": test_acc >= facts["tutorial_accuracy"],
        "sheet_step": sheet_step, "run": run, "cfg": cfg, "facts": facts,
        "epochs": float(final["epoch"]), "figures": {"acc": fig, "loss": loss},
    }


# ----------------------------------------------------------------------------- HUJI 2

def steps_to(h: pd.DataFrame, level: float) -> str:
    s = first_step_reaching(h, "heldout_accuracy", level)
    return num(s) if s is not None else "never"


@section("huji.2")
def huji_2(result, record) -> dict:
    curves, final, aff = result.tables["curves"], result.tables["final"], result.tables["affinity"]
    hist = {m: g.reset_index(drop=True) for m, g in curves.groupby("model", sort=False)}
    fin = final.set_index("model")
    base, lin, lr = fin.loc[BASELINE], fin.loc[LINEAR], fin.loc[SOFTMAX]
    lin_aff = aff[aff["model"] == LINEAR]
    relu_aff = aff[aff["model"] == BASELINE]
    affine_ok = float(lin_aff["relative_error"].max()) < 1e-4
    relu_breaks = float(relu_aff["relative_error"].max()) > 1e-2
    drop = base["test_accuracy"] - lin["test_accuracy"]
    vs_lr = lin["test_accuracy"] - lr["test_accuracy"]
    # "Within" means inside two standard errors of a 10,000-image test accuracy (about 0.5 points).
    se = (2 * lr["test_accuracy"] * (1 - lr["test_accuracy"]) / 10000) ** 0.5
    if abs(vs_lr) <= 2 * se:
        close = ("as accurate as" if round(100 * abs(vs_lr), 2) == 0 else f"within {100 * abs(vs_lr):.2f} points of")
        lr_sentence = (f"It ends {close} softmax regression on the pixels ({pct(lr['test_accuracy'])}; one seed each, "
                       f"within the ±{200 * se:.2f}-point sampling noise of their difference): its {num(lin['params'])} "
                       f"parameters do no better than the equivalent {num(lr['params'])}-parameter affine classifier.")
    elif vs_lr > 0:
        lr_sentence = (f"It ends {100 * vs_lr:.2f} points above softmax regression with the same recipe "
                       f"({pct(lr['test_accuracy'])}); both are affine, so the difference is one of optimisation, "
                       "not of capacity.")
    else:
        lr_sentence = (f"It ends {100 * -vs_lr:.2f} points below softmax regression ({pct(lr['test_accuracy'])}): "
                       "it represents no more than an affine map, and its factored form trains less well in as many "
                       "steps.")
    def settle(h):  # first evaluation within half a point of the run's final test accuracy
        final_acc = h["heldout_accuracy"].iloc[-1]
        return int(h.loc[h["heldout_accuracy"] >= final_acc - 0.005, "step"].iloc[0])

    levels = [0.9, 0.95, 0.97, 0.99]
    speed_rows = [[name] + [steps_to(hist[name], l) for l in levels] + [num(settle(hist[name])),
                                                                         pct(fin.loc[name, "test_accuracy"])]
                  for name in hist]
    fig = Figure(slug("huji.2", "acc"), to_svg(figures.accuracy_curves(hist, zoom_from=88.0)),
                 "Train (dashed) and test (solid) accuracy of the HUJI network, its linear version and softmax "
                 "regression, one recipe" + figures.panels_note(hist, 88.0))
    final_t = Table(slug("huji.2", "final"), "Final train and test accuracy and training throughput.",
                    ["model", "parameters", "train accuracy", "test accuracy", "test loss", "images/s"],
                    [[m, num(r.params), pct(r.train_accuracy), pct(r.test_accuracy), f"{r.test_loss:.4f}",
                      num(r.images_per_second)] for m, r in fin.iterrows()], ["l", "r", "r", "r", "r", "r"])
    speed_t = Table(slug("huji.2", "speed"), "Training steps until the test accuracy first reaches each level, and "
                    "first comes within half a point of the run's final test accuracy.",
                    ["model"] + [f"{pct(l, 0)}" for l in levels] + ["final − 0.5", "final"], speed_rows,
                    ["l"] + ["r"] * (len(levels) + 2), kind="more")
    aff_t = check_table("huji.2", "aff", aff, "The affinity check on pairs of real test images: "
                        "f(a x + (1-a) y) against a f(x) + (1-a) f(y), logits, inference mode, computed in float32 with the trained weights.",
                        ("max_abs_error", "relative_error"))
    settle_lin, settle_base = settle(hist[LINEAR]), settle(hist[BASELINE])
    every = int(run_of(record, LINEAR)["config"]["eval_every"])
    if abs(settle_base - settle_lin) <= 2 * every:   # one seed each: a step or two of evaluations apart is no difference
        when = (f"step {num(settle_lin)}" if settle_lin == settle_base else
                f"step {num(settle_lin)} (linear) and {num(settle_base)} (original)")
        settle_sentence = f"Both first come within half a point of their final accuracy at {when}, one seed each"
    elif settle_lin < settle_base:
        settle_sentence = (f"The linear network first comes within half a point of its final accuracy earlier, at step "
                           f"{num(settle_lin)}, the original only at step {num(settle_base)}"
                           + ("; its later steps are spent on a lower ceiling" if drop > 0 else ""))
    else:
        settle_sentence = (f"The linear network first comes within half a point of its final accuracy at step "
                           f"{num(settle_lin)}, the original network at step {num(settle_base)}")
    return {"templates": templates_context(result),
            "fig": fig, "final": final_t, "speed": speed_t, "aff": aff_t, "affine_ok": affine_ok,
            "settle_sentence": settle_sentence,
            "relu_breaks": relu_breaks, "lin_err": sci(lin_aff["relative_error"].max()),
            "relu_err": sci(relu_aff["relative_error"].max()), "drop": drop, "drop_verb": "loses" if drop > 0 else "gains", "lr_sentence": lr_sentence,
            "base": base, "lin": lin,
            "lin_train_gap": lin["train_accuracy"] - lin["test_accuracy"],
            "lin_train_gap_text": (f"{abs(100 * (lin['train_accuracy'] - lin['test_accuracy'])):.2f} points "
                                   + ("above" if lin["train_accuracy"] >= lin["test_accuracy"] else "below")
                                   + " its test accuracy"),
            "base_train_gap": base["train_accuracy"] - base["test_accuracy"], "run": run_of(record, LINEAR),
            "params_linear": param_table("huji.2", "params-linear", result.tables["params_linear"],
                                         "The linear network layer by layer: the same shapes and parameters as the "
                                         "original ('valid' padding); average pooling and dropout add none."),
            "params_softmax": param_table("huji.2", "params-softmax", result.tables["params_softmax"],
                                          "Softmax regression: one dense layer from the 784 pixels to the 10 logits.")}


# ----------------------------------------------------------------------------- HUJI 3


def templates_context(result) -> dict | None:
    """Q2's collapsed linear map as ten 28 x 28 templates beside softmax regression's, and how alike the two are:
    the correlation of each digit's two templates over the pixels."""
    import numpy as np

    t = result.tables.get("templates")
    if t is None:
        return None
    r = [float(np.corrcoef(t[f"{LINEAR} {d}"], t[f"{SOFTMAX} {d}"])[0, 1]) for d in range(10)]
    fig = Figure(slug("huji.2", "templates"), to_svg(figures.digit_templates(t, (LINEAR, SOFTMAX))),
                 "Each pixel's weight in each digit's logit, f(eᵢ) − f(0), in the linear network (top) and "
                 "softmax regression (bottom); red raises the logit, blue lowers it. Correlation of each digit's two "
                 "templates over the pixels, digits 0 to 9: " + ", ".join(f"{v:.2f}" for v in r) + ".")
    # "much the same" where even the least alike digit's two templates correlate above one half
    return {"fig": fig, "alike": min(r) > 0.5, "r_mean": float(np.mean(r)), "r_min": min(r), "r_max": max(r),
            "r_min_digit": int(np.argmin(r))}


def errors_context(result) -> dict | None:
    """Question 1.2's errors: how many, the most frequent confusion, and the most confident ones as pictures."""
    t = result.tables.get("misclassified")
    if t is None:
        return None
    if t.empty:   # a network that gets every test image right has no errors to picture
        return {"n": 0}
    pairs = t.groupby(["true", "predicted"]).size().sort_values(ascending=False)
    (true, pred), k = pairs.index[0], int(pairs.iloc[0])
    shown = t.dropna(subset=["px0"])
    fig = Figure(slug("huji.1.2", "errors"), to_svg(figures.misclassified_digits(shown)),
                 f"The {len(shown)} most confident errors: true digit → predicted digit (the probability given to "
                 "the prediction).")
    return {"n": len(t), "true": int(true), "pred": int(pred), "k": k, "fig": fig, "shown": len(shown),
            "confident": int((t["confidence"] > 0.9).sum())}
