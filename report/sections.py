"""Per-question report content: figures, tables and sentences derived from a stored Answer.

Sentences that compare numbers are chosen here by the comparison, never written in advance.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from ex1.stats import welch
from experiments import huji_sum

from . import figures
from .figures import to_svg


@dataclass
class Figure:
    id: str
    svg: str
    caption: str
    kind: str = ""     # "figures": printed in the appendix of further figures, linked from the answer

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
    kind: str = ""                                  # "architectures" or "checks": printed in that appendix


_SECTIONS: dict[str, Callable] = {}


def section(qid: str):
    def wrap(fn):
        _SECTIONS[qid] = fn
        return fn

    return wrap


def build(answer) -> dict:
    """The template context of one answer: figures, tables, sentences, plus the run facts."""
    fn = _SECTIONS.get(answer.question.id)
    if fn is None:
        raise KeyError(f"no report section for question {answer.question.id}")
    return fn(answer.result, answer.record)


def text(v) -> str:
    """A table cell as text: CSV round trips turn empty strings into NaN."""
    return v if isinstance(v, str) else ""


def pct(x: float, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f}%"


def num(n: float) -> str:
    return f"{int(n):,}"


def secs(s: float) -> str:
    s = float(s)
    if s < 90:
        return f"{s:.1f} s"
    return f"{s / 60:.1f} min"


def slug(qid: str, name: str) -> str:
    return f"{qid.replace('.', '-')}-{name}"


def param_table(qid: str, name: str, t: pd.DataFrame, caption: str) -> Table:
    rows = []
    for r in t.itertuples():
        rows.append([r.layer, r.type, r.output_shape, text(r.size_rule),
                     r.formula.replace("*", "·") if r.params else "—", num(r.params)])
    return Table(id=slug(qid, name), caption=caption,
                 columns=["layer", "type", "output shape", "how the size follows", "parameters: formula", "count"],
                 rows=rows, align=["l", "l", "r", "l", "r", "r"],
                 total=["total", "", "", "", "", num(t["params"].sum())], kind="architectures")


def first_step_reaching(h: pd.DataFrame, column: str, level: float) -> int | None:
    hit = h[h[column] >= level]
    return int(hit["step"].iloc[0]) if len(hit) else None


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
            "layers": [{"layer": row.layer, "tex": row.formula_tex, "params": int(row.params),
                        "shape": row.output_shape, "rule": text(row.size_rule)}
                       for row in nonzero.itertuples()],
            "sum_tex": rf"N_{{\text{{{r['padding']}}}}} = {sum_tex} = {r['hand_count']:,}".replace(",", "{,}"),
            "flatten": t.loc[t["layer"] == "flatten", "output_shape"].iloc[0],
        })
    by = {r["padding"]: r for r in readings}
    ratio = by["same"]["hand"] / by["valid"]["hand"]
    fc_share = {p: by[p]["layers"][2]["params"] / by[p]["hand"] for p in by}
    labels = {"valid": "HUJI network", "same": "HUJI network, 'same' padding"}
    fig = Figure(slug("huji.1.1", "bars"), to_svg(figures.param_bars(
        {labels.get(p, p): result.tables[f"params_{p}"] for p in by})),
        "Parameters per layer under the two readings (log scale). Only the first fully connected "
        "layer differs: its input is the flattened output of the second pooling layer.")
    return {"readings": readings, "trained": facts["trained"], "ratio": ratio, "fc_share": fc_share,
            "all_equal": all(r["equal"] for r in readings), "figures": {"bars": fig}}


# ----------------------------------------------------------------------------- HUJI 1.2

@section("huji.1.2")
def huji_1_2(result, record) -> dict:
    h = result.tables["history"]
    final = result.tables["final"].iloc[0]
    facts = result.facts
    run = record["runs"][0]
    cfg = run["config"]
    test_acc, train_acc = float(final["test_accuracy"]), float(final["train_accuracy"])
    gap = train_acc - test_acc
    n_train_eval = facts["train_eval_examples"] or facts["train_examples"]
    # Two binomial proportions: a gap inside two standard errors is sampling noise.
    se = (train_acc * (1 - train_acc) / n_train_eval + test_acc * (1 - test_acc) / facts["test_examples"]) ** 0.5
    if abs(gap) <= 2 * se:
        gap_sentence = (f"Train and test accuracy end {100 * abs(gap):.2f} points apart, within two standard "
                        f"errors ({100 * 2 * se:.2f} points) of the two samples: no measurable generalisation gap.")
    elif gap > 0:
        gap_sentence = (f"Training accuracy ends {100 * gap:.2f} points above test accuracy (more than two "
                        f"standard errors, {100 * 2 * se:.2f} points): a small generalisation gap.")
    else:
        gap_sentence = (f"Test accuracy ends {100 * -gap:.2f} points above the accuracy on the training sample "
                        f"(more than two standard errors, {100 * 2 * se:.2f} points): the training images "
                        "are on average the harder ones at this point of training.")
    sheet_step = first_step_reaching(h, "test_accuracy", facts["sheet_target"])
    curves = {"HUJI network": h}
    fig = Figure(slug("huji.1.2", "acc"), to_svg(figures.accuracy_curves(curves)),
                 f"Train accuracy (dashed, on a fixed sample of {num(n_train_eval)} training "
                 f"images) and test accuracy (solid, {num(facts['test_examples'])} test images), both in inference "
                 f"mode, every {cfg['eval_every']} steps"
                 + ("; the right panel zooms on the top of the scale." if figures.zoom_applies(curves, 97.0) else "."))
    loss = Figure(slug("huji.1.2", "loss"), to_svg(figures.loss_curves({"HUJI network": h})),
                  "Cross-entropy loss on the same training sample and test set (log scale).")
    return {
        "final": final, "test_acc": test_acc, "train_acc": train_acc, "gap_sentence": gap_sentence,
        "meets_sheet": test_acc > facts["sheet_target"], "meets_tutorial": test_acc >= facts["tutorial_accuracy"],
        "sheet_step": sheet_step, "run": run, "cfg": cfg, "facts": facts,
        "epochs": float(final["epoch"]), "figures": {"acc": fig, "loss": loss},
        "best_test": float(final["best_test_accuracy"]), "best_step": int(final["best_step"]),
    }


# ----------------------------------------------------------------------------- HUJI theory

def sci(x: float) -> str:
    return f"{x:.1e}" if x else "0"


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


@section("huji.t1")
def huji_t1(result, record) -> dict:
    eq, dots, lengths = (result.tables[k] for k in ("equivariance", "dot_products", "lengths"))
    lengths_ok = bool((lengths["formula n-k+1"] == lengths["tf.nn.conv1d VALID"]).all()
                      and (lengths["formula n-k+1"] == lengths["np.convolve valid"]).all())
    return {
        "eq": check_table("huji.t1", "eq", eq, "Both identities on random periodic signals of length 32.",
                          ("max_abs_error",)),
        "eq_ok": float(eq["max_abs_error"].max()) < TOLERANCE, "eq_max": sci(eq["max_abs_error"].max()),
        "dots": check_table("huji.t1", "dots", dots, "Convolution computed as dot products with shifted, "
                            "flipped copies of the signal, against the defining sum.", ("max_abs_error",)),
        "dots_ok": float(dots["max_abs_error"].max()) < TOLERANCE,
        "lengths": check_table("huji.t1", "lengths", lengths, "Output length of a 'valid' convolution: "
                               "formula, TensorFlow and NumPy."),
        "lengths_ok": lengths_ok,
    }


@section("huji.t2")
def huji_t2(result, record) -> dict:
    g, d = result.tables["gradients"], result.tables["descent"]
    neg = g[g["case"] == "all responses negative"].iloc[0]
    pos = g[g["case"] != "all responses negative"].iloc[0]
    return {
        "grads": check_table("huji.t2", "grads", g, "Gradients of F(ReLU(f*I+b)) by tf.GradientTape.",
                             ("max |dL/df|", "|dL/db|")),
        "dead_zero": float(neg["max |dL/df|"]) == 0.0 and float(neg["|dL/db|"]) == 0.0,
        "alive_nonzero": float(pos["max |dL/df|"]) > 0.0,
        "descent": check_table("huji.t2", "descent", d, "Plain gradient descent on examples that all give "
                               "negative responses.", ("max |f - f0|", "|b - b0|")),
        "unchanged": float(d["max |f - f0|"].iloc[0]) == 0.0 and float(d["|b - b0|"].iloc[0]) == 0.0,
        "steps": int(d["steps"].iloc[0]),
    }


@section("huji.t3")
def huji_t3(result, record) -> dict:
    c, jac = result.tables["checks"], result.tables["jacobian"]
    return {
        "checks": check_table("huji.t3", "checks", c, "The explicit Jacobian and its product with an upstream "
                              "gradient, against autodiff and a correlation.", ("max_abs_error",)),
        "ok": float(c["max_abs_error"].max()) < TOLERANCE_32,
        "jac": Table(slug("huji.t3", "jac"), f"The Jacobian for a random signal of length {len(jac) + 2} and a "
                     "filter of length 3 (rows: output pixels; columns: filter taps).",
                     ["output n"] + [f"∂/∂f{j}" for j in range(jac.shape[1])],
                     [[str(i)] + [f"{v:+.3f}" for v in row] for i, row in enumerate(jac.to_numpy())],
                     ["r"] * (jac.shape[1] + 1)),
    }


@section("huji.t4")
def huji_t4(result, record) -> dict:
    counts, cons = result.tables["counts"], result.tables["constraints"]
    rows = {r.question[:3]: r for r in counts.itertuples()}
    return {
        "conv": rows["4.1"], "dense": rows["4.2"], "facts": result.facts,
        "counts_ok": bool((counts["by_formula"] == counts["keras"]).all()),
        "counts": check_table("huji.t4", "counts", counts, "Parameter counts by formula and by Keras."),
        "cons": cons.to_dict("records"),
        "constraints": check_table("huji.t4", "cons", cons, "Constraints from 10,000 images with 1,000 "
                                   "categories under the two readings."),
    }


# ----------------------------------------------------------------------------- HUJI 2

def steps_to(h: pd.DataFrame, level: float) -> str:
    s = first_step_reaching(h, "test_accuracy", level)
    return num(s) if s is not None else "never"


@section("huji.2")
def huji_2(result, record) -> dict:
    curves, final, aff = result.tables["curves"], result.tables["final"], result.tables["affinity"]
    hist = {m: g.reset_index(drop=True) for m, g in curves.groupby("model", sort=False)}
    fin = final.set_index("model")
    base, lin, lr = fin.loc["HUJI network"], fin.loc["linear network"], fin.loc["softmax regression"]
    lin_aff = aff[aff["model"] == "linear network"]
    relu_aff = aff[aff["model"] == "HUJI network"]
    affine_ok = float(lin_aff["relative_error"].max()) < 1e-4
    relu_breaks = float(relu_aff["relative_error"].max()) > 1e-2
    drop = base["test_accuracy"] - lin["test_accuracy"]
    vs_lr = lin["test_accuracy"] - lr["test_accuracy"]
    # "Within" means inside two standard errors of a 10,000-image test accuracy (about 0.5 points).
    se = (2 * lr["test_accuracy"] * (1 - lr["test_accuracy"]) / 10000) ** 0.5
    if abs(vs_lr) <= 2 * se:
        lr_sentence = (f"The linear network ends at {pct(lin['test_accuracy'])}, within {100 * abs(vs_lr):.2f} points of "
                       f"softmax regression on the raw pixels ({pct(lr['test_accuracy'])}): with its "
                       f"{num(lin['params'])} parameters it does no better than the {num(lr['params'])}-parameter "
                       "affine classifier it is equivalent to.")
    elif vs_lr > 0:
        lr_sentence = (f"The linear network ends at {pct(lin['test_accuracy'])}, {100 * vs_lr:.2f} points above "
                       f"softmax regression trained with the same recipe ({pct(lr['test_accuracy'])}); both are affine "
                       "classifiers, so the difference is one of optimisation (its many redundant parameters "
                       "train the same affine map faster), not of what the model can represent.")
    else:
        lr_sentence = (f"The linear network ends at {pct(lin['test_accuracy'])}, {100 * -vs_lr:.2f} points below "
                       f"softmax regression ({pct(lr['test_accuracy'])}): it represents no more than an affine map, "
                       "and its factored parametrisation trains it less well in the same number of steps.")
    levels = [0.9, 0.95, 0.97, 0.99]
    speed_rows = [[name] + [steps_to(hist[name], l) for l in levels] + [pct(fin.loc[name, "test_accuracy"])]
                  for name in hist]
    fig = Figure(slug("huji.2", "acc"), to_svg(figures.accuracy_curves(hist, zoom_from=88.0)),
                 "Train (dashed) and test (solid) accuracy of the original network, its linear version and "
                 "softmax regression, same optimiser, batch size and steps.")
    final_t = Table(slug("huji.2", "final"), "Final train and test accuracy and training throughput.",
                    ["model", "parameters", "train accuracy", "test accuracy", "test loss", "images/s"],
                    [[m, num(r.params), pct(r.train_accuracy), pct(r.test_accuracy), f"{r.test_loss:.4f}",
                      num(r.images_per_second)] for m, r in fin.iterrows()], ["l", "r", "r", "r", "r", "r"])
    speed_t = Table(slug("huji.2", "speed"), "Training steps until the test accuracy first reaches each level.",
                    ["model"] + [f"{pct(l, 0)}" for l in levels] + ["final"], speed_rows,
                    ["l"] + ["r"] * (len(levels) + 1))
    aff_t = check_table("huji.2", "aff", aff, "The affinity check on pairs of real test images: "
                        "f(a x + (1-a) y) against a f(x) + (1-a) f(y), logits, inference mode.",
                        ("max_abs_error", "relative_error"))
    def settle(h):  # first evaluation within half a point of the run's final test accuracy
        final_acc = h["test_accuracy"].iloc[-1]
        return int(h.loc[h["test_accuracy"] >= final_acc - 0.005, "step"].iloc[0])

    settle_lin, settle_base = settle(hist["linear network"]), settle(hist["HUJI network"])
    if settle_lin < settle_base:
        settle_sentence = (f"The linear network settles early: it is within half a point of its final accuracy from "
                           f"step {num(settle_lin)}, the original network only from step {num(settle_base)}; its "
                           "remaining steps are spent on a lower ceiling.")
    else:
        settle_sentence = (f"The linear network is within half a point of its final accuracy from step "
                           f"{num(settle_lin)}, the original network from step {num(settle_base)}.")
    return {"fig": fig, "final": final_t, "speed": speed_t, "aff": aff_t, "affine_ok": affine_ok,
            "settle_sentence": settle_sentence,
            "relu_breaks": relu_breaks, "lin_err": sci(lin_aff["relative_error"].max()),
            "relu_err": sci(relu_aff["relative_error"].max()), "drop": drop, "lr_sentence": lr_sentence,
            "base": base, "lin": lin,
            "lin_train_gap": lin["train_accuracy"] - lin["test_accuracy"],
            "base_train_gap": base["train_accuracy"] - base["test_accuracy"], "run": record["runs"][1],
            "params_linear": param_table("huji.2", "params-linear", result.tables["params_linear"],
                                         "The linear network layer by layer: the same shapes and parameters as the "
                                         "original ('valid' padding); average pooling and dropout add none."),
            "params_softmax": param_table("huji.2", "params-softmax", result.tables["params_softmax"],
                                          "Softmax regression: one dense layer from the 784 pixels to the 10 logits.")}


# ----------------------------------------------------------------------------- HUJI 3


def mean_std_pct(values: pd.Series, seeds: bool = True) -> str:
    """'95.80 ± 0.21%' (mean ± standard deviation over seeds), with the count of seeds unless a caption has it."""
    s = values.std() if len(values) > 1 else float("nan")
    text_ = f"{100 * values.mean():.2f} ± {100 * s:.2f}%" if s == s else f"{100 * values.mean():.2f}%"
    return text_ + (f" ({len(values)} seeds)" if seeds else "")


def _sweep_section(qid: str, result, record, what: str) -> dict:
    t, per_seed = result.tables["sweep"], result.tables["sweep_seeds"]
    facts = result.facts
    family, target, chosen, seeds = facts["family"], facts["target"], facts["chosen"], facts["seeds"]
    cfg = record["runs"][0]["config"] if record["runs"] else {}
    sweep_t = Table(slug(qid, "sweep"), f"Every {what} trained, smallest first: accuracy on the "
                    f"{num(facts['validation'])} held-out validation images after {num(cfg.get('steps', 0))} steps, "
                    f"over {seeds} seeds; frontier = no smaller network is as accurate on average.",
                    ["network", "parameters", "train accuracy, mean", "validation accuracy, mean ± std",
                     "lowest seed", "frontier", f"every seed ≥ {pct(target, 0)}"],
                    [[r.label, num(r.params), pct(r.train_mean), f"{100 * r.validation_mean:.2f} ± {100 * r.validation_std:.2f}%",
                      pct(r.validation_min), "✓" if r.frontier else "", "✓" if r.every_seed_reaches else ""]
                     for r in t.itertuples()],
                    ["l", "r", "r", "r", "r", "l", "l"])
    fig = Figure(slug(qid, "frontier"), to_svg(figures.frontier({family: t}, target, {family: chosen},
                                                                per_seed={family: per_seed})),
                 f"Validation accuracy against parameters for every {what}: each seed a dot, the mean a cross; "
                 f"the line joins the frontier of the means, the ring marks the smallest network whose every seed "
                 f"reaches {pct(target, 0)}.")
    cl = result.tables["candidate_layers"]
    cl = cl[~cl["type"].isin(["InputLayer", "Flatten", "Dropout"])]
    layer_names = list(dict.fromkeys(cl["layer"]))
    cand_rows = []
    for label in t["label"]:
        g = cl[cl["label"] == label].set_index("layer")
        cand_rows.append([label] + [(f"{g.loc[n, 'output_shape']}" + (f" ({num(g.loc[n, 'params'])})"
                                                                          if g.loc[n, "params"] else ""))
                                    if n in g.index else "" for n in layer_names])
    cand_t = Table(slug(qid, "layers"), f"Every {what} layer by layer: output shape and, in brackets, parameters "
                   "(pooling has none; flattening is left out).", ["network"] + layer_names, cand_rows,
                   ["l"] + ["r"] * len(layer_names), kind="architectures")
    ctx = {"candidates": cand_t, "sweep": sweep_t, "frontier": fig, "chosen": chosen, "target": target, "n": len(t),
           "seeds": seeds, "validation": facts["validation"], "hits": int(t["every_seed_reaches"].sum()),
           "run": next((r for r in record["runs"] if r["label"] == chosen),
                       record["runs"][0] if record["runs"] else None)}
    if chosen is None:
        ctx["best"] = t.sort_values("validation_mean").iloc[-1]
        return ctx
    row = t[t["label"] == chosen].iloc[0]
    params = result.tables["chosen_params"]
    nonzero = params[params["params"] > 0]
    h = result.tables["chosen_history"]
    test = result.tables["chosen_test"]
    test_t = Table(slug(qid, "test"), f"The chosen network ({chosen}) on the {num(test['test_images'].iloc[0])} test "
                   "images, measured once per seed after the choice.",
                   ["seed", "validation accuracy", "test accuracy"],
                   [[str(int(r.seed)), pct(r.validation_accuracy), pct(r.test_accuracy)] for r in test.itertuples()],
                   ["r", "r", "r"],
                   total=["mean ± std", mean_std_pct(test["validation_accuracy"], seeds=False),
                          mean_std_pct(test["test_accuracy"], seeds=False)])
    miss = t[t["label"] == facts["bracket"]].iloc[0] if facts.get("bracket") else None
    if miss is None:
        boundary = (f"No smaller candidate was trained, so the sweep does not show where the threshold is crossed "
                    f"below {num(row.params)} parameters.")
    else:
        failing = per_seed[(per_seed["label"] == miss.label) & (per_seed["validation_accuracy"] < target)]
        boundary = (f"The threshold is crossed between {miss.label} ({num(miss.params)} parameters, "
                    f"{(1 - miss.params / row.params):.0%} fewer), which misses it on {len(failing)} of "
                    f"{int(miss.seeds)} seeds (lowest {pct(miss.validation_min)}), and the chosen network.")
    test_all = bool((test["test_accuracy"] >= target).all())
    ctx.update({
        "row": row, "params": int(row.params), "test": test_t, "boundary": boundary,
        "test_mean": mean_std_pct(test["test_accuracy"]), "validation_mean": mean_std_pct(test["validation_accuracy"]),
        "test_sentence": (f"On the test set every seed of it is above {pct(target, 0)} as well."
                          if test_all else
                          f"On the test set {int((test['test_accuracy'] < target).sum())} of {len(test)} seeds fall "
                          f"below {pct(target, 0)}: the validation images pick the network, but the margin above "
                          "the threshold is within the spread between seeds and between the two image sets."),
        "table": param_table(qid, "params", params, f"Parameters of the chosen network ({chosen}), layer by layer."),
        "layers": [{"layer": r.layer, "tex": r.formula_tex, "params": int(r.params), "shape": r.output_shape,
                    "rule": text(r.size_rule)} for r in nonzero.itertuples()],
        "sum_tex": "N = " + " + ".join(f"{int(p):,}".replace(",", "{,}") for p in nonzero["params"])
                   + f" = {int(row.params):,}".replace(",", "{,}"),
        "loss": Figure(slug(qid, "loss"), to_svg(figures.loss_curves({family: h}, held_out="validation")),
                       f"Training of the chosen network ({chosen}, seed {int(test['seed'].iloc[0])}): cross-entropy "
                       "on the fixed training sample (dashed) and the validation images (solid), log scale."),
        "acc": Figure(slug(qid, "acc"), to_svg(figures.accuracy_curves({family: h}, zoom_from=90.0,
                                                                         held_out="validation")),
                      f"Train (dashed) and validation (solid) accuracy of the chosen network ({chosen}, "
                      f"seed {int(test['seed'].iloc[0])})."),
    })
    return ctx


@section("huji.3.1")
def huji_3_1(result, record) -> dict:
    return _sweep_section("huji.3.1", result, record, "shallow candidate")


@section("huji.3.2")
def huji_3_2(result, record) -> dict:
    ctx = _sweep_section("huji.3.2", result, record, "reduced deep candidate")
    if "loss" in ctx:   # the frontier and the accuracy the sheet asks for stay on the page
        ctx["loss"].kind = "figures"
    return ctx


def _convergence_sentence(level: str, unit: str, d: dict, fmt, level_both: str | None = None) -> str:
    """Which network needs less `unit` to reach `level`, or that its seeds cannot tell the two apart."""
    s, dp = d["shallow"], d["deep"]
    diff = welch(s.mean(), s.std(), len(s), dp.mean(), dp.std(), len(dp))
    both = f"shallow {fmt(s.mean())} ± {fmt(s.std())}, deep {fmt(dp.mean())} ± {fmt(dp.std())} {unit}"
    if diff.significant:
        first = "deep" if diff.diff < 0 else "shallow"
        lo, hi = sorted((abs(diff.low), abs(diff.high)))
        return (f"In {unit}, the {first} network reaches {level} first ({both}; the 95% interval of the "
                f"difference, {fmt(lo)} to {fmt(hi)} {unit}, excludes zero).")
    return (f"In {unit}, the two networks cannot be told apart in reaching {level_both or level} ({both}; over {len(s)} seeds the "
            "difference is within the spread between seeds" + (f", p = {diff.p:.2g}" if diff.measurable else "")
            + ").")


@section("huji.3.3")
def huji_3_3(result, record) -> dict:
    sp, curves, facts = result.tables["speed"], result.tables["curves"], result.facts
    if sp.empty:
        return {"empty": True, "missing": facts.get("missing", [])}
    rel, common = facts["relative"], facts["common"]
    g = sp.groupby("family", sort=False)

    def mean_std(col, fmt, fam):
        v = g.get_group(fam)[col]
        if v.isna().any():
            return f"not reached by {int(v.isna().sum())} of {len(v)} seeds"
        return f"{fmt(v.mean())} ± {fmt(v.std())}"

    fams = list(g.groups)
    first = {fam: g.get_group(fam).iloc[0] for fam in fams}
    table = Table(slug("huji.3.3", "speed"), f"Convergence of the two chosen networks, mean ± standard deviation over "
                  f"{facts['seeds']} seeds, each evaluated on the test set every {num(facts['eval_every'])} steps; "
                  "seconds of training, evaluations excluded.",
                  ["network", "parameters", f"steps to {rel:.0%} of final", "seconds", f"steps to {pct(common)}",
                   "seconds", "final test accuracy"],
                  [[first[f].label, num(first[f].params), mean_std("own_step", num, f),
                    mean_std("own_seconds", lambda x: f"{x:.1f}", f), mean_std("common_step", num, f),
                    mean_std("common_seconds", lambda x: f"{x:.1f}", f),
                    mean_std_pct(g.get_group(f)["final_accuracy"], seeds=False)] for f in fams],
                  ["l", "r", "r", "r", "r", "r", "r"])
    mean_curves = {first[f].label: curves[curves["family"] == f].groupby("step", as_index=False)[
        ["test_accuracy", "train_s"]].mean() for f in fams}
    by_step = Figure(slug("huji.3.3", "steps"), to_svg(figures.accuracy_against(
        mean_curves, "step", "training step (mini-batches)", common)),
        f"Test accuracy of the two chosen networks against steps, mean of {facts['seeds']} seeds; the dotted line "
        f"is the common level {pct(common)}.")
    by_time = Figure(slug("huji.3.3", "time"), to_svg(figures.accuracy_against(
        mean_curves, "train_s", "training time (s)", common)),
        "The same runs against seconds of training on this machine (mean over seeds of each evaluation's time).")
    reached = not sp[["own_step", "common_step"]].isna().any().any()
    sentences, why = [], ""
    if reached:
        def by(col):
            return {f: g.get_group(f)[col].astype(float) for f in fams}
        sentences = [
            _convergence_sentence(f"{rel:.0%} of its final accuracy", "steps", by("own_step"), num,
                                  f"{rel:.0%} of their final accuracies"),
            _convergence_sentence(f"the common level {pct(common)}", "steps", by("common_step"), num),
            _convergence_sentence(f"{rel:.0%} of its final accuracy", "seconds", by("own_seconds"),
                                  lambda x: f"{x:.1f}", f"{rel:.0%} of their final accuracies"),
        ]
        step_diff = welch(*(lambda s, d: (s.mean(), s.std(), len(s), d.mean(), d.std(), len(d)))(
            by("own_step")["shallow"], by("own_step")["deep"]))
        if step_diff.significant and step_diff.diff < 0:
            why = ("A likely reason the deep network needs fewer steps: pooling twice lets each of its few parameters act on larger, "
                   "already-combined features, while the shallow network must separate the classes with one dense "
                   "layer on a single level of features.")
        elif step_diff.significant:
            why = ("A likely reason the shallow network needs fewer steps: the gradient reaches its single convolution directly, "
                   "while the deep network's narrow layers are bottlenecks the signal must pass through twice.")
        ips = {f: g.get_group(f)["images_per_second"].mean() for f in fams}
        ratio = ips["shallow"] / ips["deep"]
        sentences.append(f"One step of the shallow network costs {1 / ratio:.2f} times the time of one step of the "
                         f"deep one ({num(ips['shallow'])} against {num(ips['deep'])} images/s).")
    bounds = (record.get("runs") or [{}])[0].get("config", {}).get("lr_boundaries") or []
    window = 2 * (record.get("runs") or [{}])[0].get("config", {}).get("eval_every", 0) * 5
    at_drop = reached and bool(bounds) and all(0 <= s - bounds[0] <= window for s in sp["own_step"])
    schedule = (f"Every run reaches {rel:.0%} of its final accuracy within {num(window)} steps after the tenfold "
                f"learning-rate drop at step {num(bounds[0])}: in this recipe the schedule, more than the "
                "architecture, decides when training stops improving." if at_drop else "")
    return {"empty": False, "table": table, "by_step": by_step, "by_time": by_time, "sentences": sentences,
            "why": why, "schedule": schedule, "facts": facts, "reached": reached}


# ----------------------------------------------------------------------------- HUJI 5

def _held_out_text(facts) -> str:
    return ", ".join(f"({a}, {b})" for a, b in facts["held_out"])


def _pair_training(qid: str, result, record, label: str, what: str) -> dict:
    h = result.tables["history"]
    fig = Figure(slug(qid, "acc"), to_svg(figures.accuracy_curves({label: h}, zoom_from=95.0)),
                 f"Train (dashed, fixed sample of training pairs) and test (solid, test pairs) {what} every "
                 f"{record['runs'][0]['config']['eval_every']} steps.")
    params = result.tables["params"]
    return {"fig": fig, "final": h.iloc[-1], "run": record["runs"][0], "held_out": _held_out_text(result.facts),
            "params": param_table(qid, "params", params, f"Layers and parameters of the {label}.")}


@section("huji.5.1")
def huji_5_1(result, record) -> dict:
    return _pair_training("huji.5.1", result, record, "sum classifier", "accuracy of the predicted sum")


@section("huji.5.2")
def huji_5_2(result, record) -> dict:
    ctx = _pair_training("huji.5.2", result, record, "two-digit network",
                         "accuracy of the predicted pair (both digits right)")
    ev = result.tables["evaluation"]
    ctx["test"] = ev[ev["split"] == huji_sum.SEEN].iloc[0]
    return ctx


def _binomial_se(p: float, n: float) -> float:
    return (p * (1 - p) / n) ** 0.5 if n else float("nan")


def _interval(diff: float, se: float) -> str:
    return f"{100 * diff:+.2f} points (95% interval {100 * (diff - 1.96 * se):+.2f} to {100 * (diff + 1.96 * se):+.2f})"


def pair_error_sentence(d) -> str:
    """Both digits right against p², the rate if the two heads erred independently, with the direction
    chosen by the numbers: errors on the same pairs (positively correlated) push it above p²."""
    both, p2, n = float(d.both_digits_accuracy), float(d.digit_accuracy_squared), float(d.pairs)
    diff, se = both - p2, _binomial_se(both, n)
    head = (f"Both digits are right for {pct(both)} of the pairs, against {pct(d.digit_accuracy)}² = {pct(p2)} if the "
            f"two heads erred independently: a difference of {_interval(diff, se)}")
    if diff - 1.96 * se > 0:
        return head + "; the two heads tend to fail on the same pairs (positively correlated errors)."
    if diff + 1.96 * se < 0:
        return head + "; the two heads fail on different pairs more often than chance (negatively correlated errors)."
    return head + "; the data cannot tell it from independent errors."


def overfit_sentence(gaps: dict[str, tuple[float, float]]) -> str:
    """Which model's train-minus-test gap is larger, if the binomial interval of the difference says so.
    gaps: model -> (gap, its standard error)."""
    (gs, ss), (gd, sd) = gaps["sum classifier"], gaps["two-digit network"]
    diff, se = gs - gd, (ss ** 2 + sd ** 2) ** 0.5
    head = (f"Training-sample accuracy ends {100 * gs:.2f} points above test accuracy for the sum classifier and "
            f"{100 * gd:.2f} points for the two-digit network, a difference of {_interval(diff, se)}")
    if diff - 1.96 * se > 0:
        return head + ": the sum classifier overfits more."
    if diff + 1.96 * se < 0:
        return head + ": the two-digit network overfits more."
    return head + ": the two gaps are not distinguishable."


@section("huji.5.3")
def huji_5_3(result, record) -> dict:
    ev, curves = result.tables["evaluation"], result.tables["curves"]
    hist = {m: g.reset_index(drop=True) for m, g in curves.groupby("model", sort=False)}
    get = {(r.model, r.split): r for r in ev.itertuples()}
    s_t, d_t = get[("sum classifier", huji_sum.SEEN)], get[("two-digit network", huji_sum.SEEN)]
    s_h, d_h = get[("sum classifier", huji_sum.HELD)], get[("two-digit network", huji_sum.HELD)]
    table = Table(slug("huji.5.3", "eval"), "Sum accuracy of both models on test pairs of the digit combinations seen "
                  "in training and, apart, on test pairs of the combinations held out of training; per-digit and "
                  "both-digits accuracy of the two-digit network. Test pairs are drawn from the 10,000 test images only.",
                  ["model", "test pairs", "pairs", "sum accuracy", "digit accuracy", "(digit accuracy)²",
                   "both digits right"],
                  [[r.model, r.split, num(r.pairs), pct(r.sum_accuracy),
                    pct(r.digit_accuracy) if r.digit_accuracy == r.digit_accuracy else "—",
                    pct(r.digit_accuracy_squared) if r.digit_accuracy_squared == r.digit_accuracy_squared else "—",
                    pct(r.both_digits_accuracy) if r.both_digits_accuracy == r.both_digits_accuracy else "—"]
                   for r in ev.itertuples()], ["l", "l", "r", "r", "r", "r", "r"])
    fig = Figure(slug("huji.5.3", "acc"), to_svg(figures.accuracy_curves(hist, zoom_from=95.0)),
                 "Both models on one plot: accuracy of the sum classifier's sum and of the two-digit network's "
                 "pair (both digits right), on training pairs (dashed) and on test pairs of the combinations seen in "
                 "training (solid); same steps and optimiser.")
    better = "two-digit network" if d_t.sum_accuracy > s_t.sum_accuracy else "sum classifier"
    diff = d_t.sum_accuracy - s_t.sum_accuracy
    # Two accuracies on the same pairs: the binomial standard error of their difference (independence assumed,
    # which overstates it when the two models err on the same pairs, so the verdict errs towards "level").
    se = (_binomial_se(s_t.sum_accuracy, s_t.pairs) ** 2 + _binomial_se(d_t.sum_accuracy, d_t.pairs) ** 2) ** 0.5
    if abs(diff) <= 1.96 * se:
        verdict = (f"On test pairs of the combinations seen in training the two strategies are level: "
                   f"{pct(d_t.sum_accuracy)} for the two-digit network against {pct(s_t.sum_accuracy)}, a difference "
                   f"of {_interval(diff, se)}.")
    else:
        verdict = (f"On test pairs of the combinations seen in training the {better} works better: a sum accuracy of "
                   f"{pct(max(d_t.sum_accuracy, s_t.sum_accuracy))} against "
                   f"{pct(min(d_t.sum_accuracy, s_t.sum_accuracy))}, a difference of {_interval(abs(diff), se)}.")
    gaps = {}
    for r in record.get("runs", []):
        h = hist.get(r["label"])
        if h is not None:
            n_train = min(r["config"]["train_eval_size"] or r["train_examples"], r["train_examples"])
            n_test = r["config"]["test_size"] or int(result.facts.get("test_pairs", s_t.pairs))
            tr, te = float(h["train_accuracy"].iloc[-1]), float(h["test_accuracy"].iloc[-1])
            gaps[r["label"]] = (tr - te, (_binomial_se(tr, n_train) ** 2 + _binomial_se(te, n_test) ** 2) ** 0.5)
    held_se = {m: _binomial_se(get[(m, huji_sum.HELD)].sum_accuracy, get[(m, huji_sum.HELD)].pairs)
               for m in ("sum classifier", "two-digit network")}
    return {"table": table, "fig": fig, "verdict": verdict, "d_t": d_t, "s_t": s_t, "d_h": d_h, "s_h": s_h,
            "pair_errors": pair_error_sentence(d_t),
            "overfit": overfit_sentence(gaps) if len(gaps) == 2 else "",
            "held_gap": s_h.sum_accuracy - s_t.sum_accuracy, "held_digits_gap": d_h.sum_accuracy - d_t.sum_accuracy,
            "held_out": _held_out_text(result.facts), "facts": result.facts,
            "sum_generalises": s_h.sum_accuracy >= s_t.sum_accuracy - 1.96 * (held_se["sum classifier"] ** 2 + _binomial_se(
                s_t.sum_accuracy, s_t.pairs) ** 2) ** 0.5,
            "digits_generalise": d_h.sum_accuracy >= d_t.sum_accuracy - 1.96 * (held_se["two-digit network"] ** 2 + _binomial_se(
                d_t.sum_accuracy, d_t.pairs) ** 2) ** 0.5}


# ----------------------------------------------------------------------------- HUJI 4

def drop_vs_size_sentence(size, drop) -> str:
    """Best dropout against best smaller network on test accuracy, decided by Welch's interval."""
    d = welch(size.test_mean, size.test_std, size.n, drop.test_mean, drop.test_std, drop.n)
    head = f"Test accuracy of the best dropout minus that of the best smaller network: {d.points()}"
    if d.significant and d.diff > 0:
        return head + "; on these 250 examples dropout helps more: it keeps the capacity but stops units from relying " \
                      "on each other."
    if d.significant:
        return head + "; on these 250 examples shrinking the network helps more."
    return head + "; neither can be said to help more."


def _run(record, label: str) -> dict:
    """The run of a question with this label (its role), whatever its position among the question's runs."""
    return next(r for r in record["runs"] if r["label"] == label)


def pm(mean: float, std: float, n: int, scale: float = 100.0, digits: int = 2) -> str:
    s = 0.0 if std != std else std
    return f"{scale * mean:.{digits}f} ± {scale * s:.{digits}f} (n={n})"


def trained_until(r, facts) -> str:
    """Where a size variant was read: at FIT training accuracy (mean step over its seeds) or at the cap."""
    fit, n, hit = pct(facts["fit"], 0), int(r.n), int(r.fitted)
    if hit == n:
        return f"{fit} train, step {num(round(r.stop_mean))} (mean)"
    if hit == 0:
        return f"cap, {num(facts['size_cap_steps'])} steps"
    return f"{fit} train on {hit} of {n} seeds, the cap on the rest"


def fc1_sentence(base, fc1) -> str:
    """The first dense layer alone shrunk, against the full-size network, decided by Welch's interval."""
    d = welch(base.test_mean, base.test_std, base.n, fc1.test_mean, fc1.test_std, fc1.n)
    verdict = ("a gain whose interval excludes zero" if d.significant and d.diff > 0 else
               "a loss whose interval excludes zero" if d.significant else "not distinguishable from seed noise")
    return (f"Shrinking only the first fully connected layer, which holds most of the parameters, to "
            f"{int(fc1.setting)} units leaves {num(fc1.params)} parameters ({1 - fc1.params / base.params:.0%} fewer) "
            f"and a test accuracy of {pct(fc1.test_mean)} against {pct(base.test_mean)} at full size: "
            f"{d.points()}, {verdict}.")


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

    def rows(t, first, trained=False):
        return [[first(r), num(r.params), pm(r.test_mean, r.test_std, r.n), pm(r.ratio_mean, r.ratio_std, r.n, 1, 3),
                 pct(r.train_mean)] + ([trained_until(r, facts)] if trained else []) for r in t.itertuples()]

    size_t = Table(slug("huji.4", "size"), f"Smaller networks on the 250 examples, {len(facts['seeds'])} seeds each: "
                   "test accuracy in % and test/train ratio, mean ± standard deviation, read where each run first "
                   f"reaches {pct(facts['fit'], 0)} training accuracy or at the cap of "
                   f"{num(facts['size_cap_steps'])} steps.",
                   ["network", "parameters", "test accuracy (%)", "ratio", "train accuracy", "read at"],
                   rows(size, lambda r: f"width ×{r.setting:g}", True)
                   + rows(fc1, lambda r: f"fc1 alone: {int(r.setting)} units", True),
                   ["l", "r", "r", "r", "r", "l"])
    drop_t = Table(slug("huji.4", "dropout"), "Dropout after every hidden layer of the original network, on the 250 "
                   "examples: keep probability (Keras rate = 1 − keep), mean ± standard deviation over seeds.",
                   ["keep probability", "parameters", "test accuracy (%)", "ratio", "train accuracy"],
                   rows(drop, lambda r: f"{r.setting:g} (rate {1 - r.setting:g})"), ["l", "r", "r", "r", "r"])
    best_size = size.loc[size["test_mean"].idxmax()]
    best_ratio_size = size.loc[size["ratio_mean"].idxmax()]
    best_drop = drop.loc[drop["test_mean"].idxmax()]
    best_ratio_drop = drop.loc[drop["ratio_mean"].idxmax()]

    def gain(r):
        return r.test_mean - base.test_mean, r.ratio_mean - base.ratio_mean

    def against_base(r):
        return welch(base.test_mean, base.test_std, base.n, r.test_mean, r.test_std, r.n)

    wl = result.tables["width_layers"]
    wl = wl[wl["params"] > 0]
    widths = list(dict.fromkeys(wl["width"]))

    def width_name(w):
        try:
            return f"×{float(w):g}"
        except ValueError:  # the variant with only the first dense layer reduced
            return str(w)

    layer_rows = []
    for layer, g in wl.groupby("layer", sort=False):
        g = g.set_index("width")
        layer_rows.append([layer] + [f"{g.loc[w, 'output_shape']}: {num(g.loc[w, 'params'])}" for w in widths])
    totals = wl.groupby("width", sort=False)["params"].sum()
    layers_t = Table(slug("huji.4", "layers"), "The networks of the size experiment layer by layer: output shape "
                     "and parameters of each layer with parameters (pooling, flattening and dropout have none).",
                     ["layer"] + [width_name(w) for w in widths], layer_rows, ["l"] + ["r"] * len(widths),
                     total=["total"] + [num(totals[w]) for w in widths], kind="architectures")
    fig_curves = Figure(slug("huji.4", "curves"), to_svg(figures.overfitting_curves(curves)),
                        "The original network without dropout on all 60,000 training examples and on 250 of them: "
                        "accuracy on the training examples (dashed; a fixed sample of "
                        f"{num(_run(record, 'all 60,000 examples')['config']['train_eval_size'] or 60000)} for the full "
                        "set, all 250 for the small one) and on the test set (solid), and their ratio test/train "
                        "(right), against epochs; the first evaluation (step 0) is left out.")
    fig_size = Figure(slug("huji.4", "size-fig"), to_svg(figures.sweep_errorbars(size, "params", "parameters (log scale)",
                      log_x=True)), "Smaller networks on 250 examples: mean test accuracy and ratio, ±1 std over seeds.",
                      kind="figures")
    fig_drop = Figure(slug("huji.4", "drop-fig"), to_svg(figures.sweep_errorbars(drop, "setting", "keep probability")),
                      "Dropout on 250 examples: mean test accuracy and ratio against the keep probability, ±1 std.")
    return {"layers": layers_t, "full": full, "small": small, "size": size_t, "drop": drop_t, "base": base, "facts": facts,
            "best_size": best_size, "best_ratio_size": best_ratio_size, "best_drop": best_drop,
            "best_ratio_drop": best_ratio_drop, "gain_size": gain(best_size), "gain_drop": gain(best_drop),
            "test_size": against_base(best_size), "test_drop": against_base(best_drop),
            "drop_vs_size": drop_vs_size_sentence(best_size, best_drop),
            "fc1": fc1_sentence(base, fc1.iloc[0]) if len(fc1) else "",
            "fig_curves": fig_curves, "fig_size": fig_size, "fig_drop": fig_drop,
            "run_full": _run(record, "all 60,000 examples"), "run_small": _run(record, "250 examples")}


# ----------------------------------------------------------------------------- Tuebingen, ETH, Bonn theory

CONV_BACKPROP = "tuebingen.2"   # the question whose sheet asks the convolution's gradients most fully: derived there
CONV_BACKPROP_CHECKS = "conv-backprop-checks"


def _checks(qid: str, result, caption: str, tol: float = TOLERANCE_32) -> dict:
    t = result.tables["checks"]
    table = check_table(qid, "checks", t, caption, ("max_abs_error",))
    # The three sheets' checks are one computation: one table, which every answer links to.
    table.id = CONV_BACKPROP_CHECKS
    return {"checks": table, "ok": float(t["max_abs_error"].max()) < tol, "worst": sci(t["max_abs_error"].max()),
            "derivation": "q-" + CONV_BACKPROP.replace(".", "-")}


for _qid in ("tuebingen.2", "eth.3", "bonn.t1"):
    section(_qid)(lambda result, record, _q=_qid: _checks(
        _q, result, "The derived gradients of a convolution (Tübingen 2, ETH 3, Bonn Theory 1) against "
                    "tf.GradientTape on a random image, kernel and upstream gradient (float64)."))


@section("tuebingen.3")
def tuebingen_3(result, record) -> dict:
    t = result.tables["sizes"]
    def cell(v) -> str:   # counts with thousands separators; shapes as they are
        return num(int(v)) if str(v).isdigit() else str(v)

    table = Table(slug("tuebingen.3", "sizes"), "Tübingen 3: each answer by formula and by building the layer in Keras.",
                  ["part", "formula", "answer", "Keras"],
                  [[r.part, r.formula, cell(r.by_formula), cell(r.keras)] for r in t.itertuples()],
                  ["l", "l", "r", "r"], kind="checks")
    rows = {r.part[:3]: r for r in t.itertuples()}
    agree = all(str(r.by_formula) in str(r.keras) or str(r.keras).startswith(str(r.by_formula)) for r in t.itertuples())
    return {"table": table, "rows": rows, "ok": agree}


@section("eth.1")
def eth_1(result, record) -> dict:
    t = result.tables["checks"]
    return {"checks": check_table("eth.1", "checks", t, "Output size and translation on a random image.",
                                  ("max_abs_error",)),
            "ok": float(t["max_abs_error"].max()) < TOLERANCE and t["expected"].iloc[0] == t["measured"].iloc[0]}


@section("eth.2")
def eth_2(result, record) -> dict:
    t = result.tables["counts"].set_index("quantity")["value"]
    facts = result.facts

    def close(a, b):  # the solution states four significant digits
        return float(f"{a:.4g}") == b

    lc, fa, fb = t["ratio CNN / locally connected"], t["ratio CNN / FC, reading 3K"], t["ratio CNN / FC, reading 9K"]
    rows = [[q, (f"{v:.4g}" if v < 1 else num(v))] for q, v in t.items()]
    return {"table": Table(slug("eth.2", "counts"), "First-layer parameters for m = 128, p = 5, K = 1 (the ratios do "
                           "not depend on K).", ["quantity", "value"], rows, ["l", "r"]),
            "lc": lc, "fa": fa, "fb": fb, "facts": facts, "lc_ok": close(lc, facts["stated_lc"]),
            "fa_ok": close(fa, facts["stated_fc"]), "fb_ok": close(fb, facts["stated_fc"])}


@section("bonn.t2")
def bonn_t2(result, record) -> dict:
    t = result.tables["checks"].set_index("quantity")["value"]
    return {"rows": [[q, f"{v:.6g}"] for q, v in t.items()], "diff": t["|difference|"],
            "ok": t["|difference|"] < 1e-12, "broken": t["tie broken by an unconstrained step: |w00 - w11| after"],
            "table": Table(slug("bonn.t2", "checks"), "A network with two tied weights (float64): the gradient "
                           "through the tie against the summed gradients.", ["quantity", "value"],
                           [[q, f"{v:.6g}"] for q, v in t.items()], ["l", "r"])}


# ----------------------------------------------------------------------------- Tuebingen 1

def still_improving(h: pd.DataFrame, column: str = "test_accuracy", last: int = 3) -> float:
    """Points of accuracy gained over the last `last` evaluations (mean of the last against the ones before)."""
    if len(h) < 2 * last:
        return float("nan")
    return float(100 * (h[column].iloc[-last:].mean() - h[column].iloc[-2 * last:-last].mean()))


@section("tuebingen.1")
def tuebingen_1(result, record) -> dict:
    h, errors, facts = result.tables["history"], result.tables["errors"], result.facts
    run = record["runs"][-1]
    cfg = run["config"]
    final = h.iloc[-1]
    test_acc, train_acc = float(final["test_accuracy"]), float(final["train_accuracy"])
    minutes = facts["train_seconds"] / 60
    wall_minutes = facts["wall_seconds"] / 60
    curves = result.tables["curves"]
    hist = {f"learning rate {k}": g for k, g in curves.groupby("schedule", sort=False)}
    # The reported schedule in the Tuebingen colour, any earlier one in grey.
    colors = {k: figures.color_for("Tübingen GAP network" if i == len(hist) - 1 else "softmax regression")
              for i, k in enumerate(hist)}
    fig = Figure(slug("tuebingen.1", "errors"), to_svg(figures.error_curves(hist, tuple(cfg["lr_boundaries"]), colors)),
                 f"Training error (dashed, fixed sample of {num(cfg['train_eval_size'] or run['train_examples'])} "
                 f"training images) and test error (solid, "
                 f"{'all 10,000' if cfg['test_size'] is None else num(cfg['test_size'])} test images) every "
                 f"{cfg['eval_every']} steps for both learning-rate schedules, log scale; the dotted line marks "
                 "the drop.")
    sch = result.tables["schedules"]
    schedules = Table(slug("tuebingen.1", "schedules"), "Both learning-rate schedules, same network, seed and steps.",
                      ["learning rate", "training-sample accuracy", "test accuracy", "best test accuracy",
                       "wall time", ""],
                      [[r.schedule, pct(r.train_accuracy), pct(r.test_accuracy), pct(r.best_test_accuracy),
                        secs(r.wall_seconds), "reported" if r.reported else "first tried"] for r in sch.itertuples()],
                      ["l", "r", "r", "r", "r", "l"])
    first = sch.iloc[0]
    rows = [[num(r.step), pct(r.train_error), pct(r.test_error), f"{r.learning_rate:g}", secs(r.wall_s)]
            for r in errors.itertuples()]
    table = Table(slug("tuebingen.1", "errors-table"), "Training and test error at every evaluation, as the sheet "
                  "asks the code to print them (the same lines appear in the log).",
                  ["step", "training error", "test error", "learning rate", "elapsed"], rows, ["r", "r", "r", "r", "r"])
    params = param_table("tuebingen.1", "params", result.tables["params"],
                         "The network of the sheet, layer by layer ('valid' convolutions, stride 1).")
    return {"run": run, "cfg": cfg, "facts": facts, "test_acc": test_acc, "train_acc": train_acc,
            "meets_sheet": test_acc > facts["sheet_accuracy"], "minutes": minutes, "wall_minutes": wall_minutes,
            "speedup": facts["sheet_cpu_minutes"] / wall_minutes if wall_minutes else float("nan"),
            "fig": fig, "table": table, "params": params, "schedules": schedules, "first": first,
            "several": len(sch) > 1,
            "factor": float(sch["initial_learning_rate"].iloc[-1] / sch["initial_learning_rate"].iloc[0]),
            "classifier_params": int(result.tables["params"]["params"].iloc[-1]),
            "total_params": int(result.tables["params"]["params"].sum()),
            "sheet_step": first_step_reaching(h, "test_accuracy", facts["sheet_accuracy"])}


# ----------------------------------------------------------------------------- Bonn programming

@section("bonn.p1")
def bonn_p1(result, record) -> dict:
    t, curves, facts = result.tables["selection"], result.tables["curves"], result.facts
    chosen = f"{facts['chosen']:g}"
    rows = [[f"{r.learning_rate:g}", pct(r.final_val_error) if r.finite else "diverged",
             pct(r.mean_val_error_last) if r.finite else "—",
             f"{r.final_train_loss:.4f}" if r.finite else "NaN", secs(r.train_seconds), "chosen" if r.chosen else ""]
            for r in t.itertuples()]
    table = Table(slug("bonn.p1", "selection"), f"The sweep: validation error on {num(facts['validation'])} held-out "
                  f"training images after the last step, its mean over the last {facts['select_last']} evaluations "
                  "(the rule), and the training-sample loss.",
                  ["learning rate", "final validation error", f"mean of last {facts['select_last']}",
                   "training loss", "training time", ""], rows, ["r", "r", "r", "r", "r", "l"])
    fig = Figure(slug("bonn.p1", "sweep"), to_svg(figures.learning_rate_sweep(curves, chosen)),
                 f"Validation error (left) and loss on a fixed training sample (right) every {facts['eval_every']} "
                 "steps for each learning rate, both on log scales; the chosen rate is drawn thick.")
    finite = t[t["finite"]].sort_values("mean_val_error_last")
    diverged = [f"{v:g}" for v in t.loc[~t["finite"], "learning_rate"]]
    runner_up = finite.iloc[1] if len(finite) > 1 else None
    best = finite.iloc[0]
    lrs = sorted(t["learning_rate"])
    at_edge = best.learning_rate in (lrs[0], lrs[-1])
    params = param_table("bonn.p1", "params", result.tables["params"], "The Bonn CNN on MNIST, layer by layer.")

    def listed(rows):
        return [f"{r.learning_rate:g}: {pct(r.mean_val_error_last)}" for r in rows.sort_values("learning_rate").itertuples()]

    # Chance on ten balanced classes is 90% error: a run ending above 50% has failed, either from the start
    # or after learning for a while (a collapse).
    failed = finite[finite["final_val_error"] > 0.5].sort_values("learning_rate")
    learned = finite[finite["final_val_error"] <= 0.5]
    stuck = [f"{r.learning_rate:g} (never below {pct(r.best_val_error, 1)} validation error, final training loss "
             f"{r.final_train_loss:.3f})"
             for r in failed.itertuples() if r.best_val_error > 0.5]
    collapsed = [f"{r.learning_rate:g} (down to {pct(r.best_val_error, 1)}, then back to {pct(r.final_val_error, 1)})"
                 for r in failed.itertuples() if r.best_val_error <= 0.5]
    below = listed(learned[learned["learning_rate"] < best.learning_rate])
    above = listed(learned[learned["learning_rate"] > best.learning_rate])
    chosen_run = next((r for r in record["runs"] if f"{r['config']['learning_rate']:g}" == chosen), record["runs"][0])
    return {"below": below, "above": above, "stuck": stuck, "collapsed": collapsed, "chosen_run": chosen_run, "table": table, "fig": fig, "facts": facts, "chosen": chosen, "best": best, "runner_up": runner_up,
            "diverged": diverged, "at_edge": at_edge, "span": lrs[-1] / lrs[0], "n": len(lrs),
            "run": record["runs"][0], "params": params}


@section("bonn.p2")
def bonn_p2(result, record) -> dict:
    h = result.tables["history"]
    run = record["runs"][-1]
    final = h.iloc[-1]
    label = "Bonn CNN"
    loss = Figure(slug("bonn.p2", "loss"), to_svg(figures.loss_curves({label: h})),
                  f"Training loss (dashed: cross-entropy on a fixed sample of "
                  f"{num(run['config']['train_eval_size'])} training images) and test loss (solid) every "
                  f"{run['config']['eval_every']} steps, log scale.")
    acc = Figure(slug("bonn.p2", "acc"), to_svg(figures.accuracy_curves({label: h})),
                 "Training-sample (dashed) and test (solid) accuracy of the same run.")
    return {"run": run, "final": final, "test_acc": float(final["test_accuracy"]),
            "train_acc": float(final["train_accuracy"]), "loss": loss, "acc": acc, "facts": result.facts,
            "gain": still_improving(h), "run_first_loss": float(h["train_loss"].iloc[0])}


@section("bonn.p3")
def bonn_p3(result, record) -> dict:
    summary, per_seed, facts = result.tables["summary"], result.tables["per_seed"], result.facts
    s = summary.set_index("regularisation")
    base, reg = s.loc["none"], s.loc["dropout + weight decay"]
    test = welch(base.test_mean, base.test_std, base.n, reg.test_mean, reg.test_std, reg.n)
    rows = [[r.regularisation, str(int(r.n)), pm(r.test_mean, r.test_std, int(r.n)),
             pm(r.train_mean, r.train_std, int(r.n))] for r in summary.itertuples()]
    table = Table(slug("bonn.p3", "summary"), "Final accuracy in %, mean ± standard deviation over seeds "
                  f"(seeds {', '.join(map(str, facts['seeds']))}).",
                  ["regularisation", "seeds", "test accuracy (%)", "training-sample accuracy (%)"], rows,
                  ["l", "r", "r", "r"])
    seed_rows = [[r.regularisation, str(r.seed), pct(r.test_accuracy), pct(r.train_accuracy), secs(r.train_seconds)]
                 for r in per_seed.itertuples()]
    seeds = Table(slug("bonn.p3", "seeds"), "Every run of the comparison.",
                  ["regularisation", "seed", "test accuracy", "training-sample accuracy", "training time"],
                  seed_rows, ["l", "r", "r", "r", "r"])
    curves = result.tables["curves"]
    names = {"none": "Bonn CNN", "dropout + weight decay": "Bonn CNN, dropout + weight decay"}
    hist = {names[k]: g for k, g in curves.groupby("run", sort=False)}
    fig = Figure(slug("bonn.p3", "curves"), to_svg(figures.accuracy_curves(hist)),
                 f"Seed {facts['seeds'][0]} of each: training-sample (dashed) and test (solid) accuracy.")
    gap_base, gap_reg = base.train_mean - base.test_mean, reg.train_mean - reg.test_mean
    def pm_pct(r):
        std = 0.0 if r.test_std != r.test_std else r.test_std
        return f"{100 * r.test_mean:.2f} ± {100 * std:.2f}% (n={int(r.n)})"

    return {"reg_pm": pm_pct(reg), "base_pm": pm_pct(base),
            "table": table, "seeds": seeds, "fig": fig, "base": base, "reg": reg, "diff": test.diff,
            "test": test, "significant": test.significant, "facts": facts, "gap_base": gap_base, "gap_reg": gap_reg,
            "run": record["runs"][-1]}


@section("bonn.p4")
def bonn_p4(result, record) -> dict:
    h, per_class, facts = result.tables["history"], result.tables["per_class"], result.facts
    nets = result.tables["networks"].set_index("role")
    labels = {"answer": "Bonn CNN on CIFAR-10", "augmented": "Bonn CNN on CIFAR-10, augmented",
              "plain": "Bonn CNN on CIFAR-10, no regularisation"}
    cifar_runs = [r for r in record["runs"] if r["dataset"] == "cifar10"]
    run = next(r for r in cifar_runs if r["model_kwargs"].get("conv_dropout") and not r["model_kwargs"].get("shift"))
    cfg = run["config"]
    final = h.iloc[-1]
    answer, aug, plain = (nets.loc[k].to_dict() for k in ("answer", "augmented", "plain"))
    curves = result.tables["curves"]
    hist = {labels[k]: curves[curves["network"] == k] for k in labels}
    acc = Figure(slug("bonn.p4", "acc"), to_svg(figures.accuracy_curves(hist, zoom_from=None)),
                 f"CIFAR-10, the three networks of the table below: accuracy on a fixed sample of "
                 f"{num(cfg['train_eval_size'])} training images (dashed) and on the "
                 f"{num(cfg['test_size'] or facts['test_examples'])} test images (solid), every "
                 f"{num(cfg['eval_every'])} steps; the learning rate drops tenfold after step "
                 f"{num(cfg['lr_boundaries'][0])}.")
    loss = Figure(slug("bonn.p4", "loss"), to_svg(figures.loss_curves(hist)),
                  "CIFAR-10, the same three networks: training-sample (dashed) and test (solid) loss, log scale.",
                  kind="figures")
    within = facts["flat_within"]
    nets_t = Table(slug("bonn.p4", "networks"),
                   f"Exercise 3's network (the answer), the same network trained on mirrored and shifted images, and "
                   f"exercise 2's network without dropout and weight decay; one recipe, seed 0. \"last "
                   f"{facts['flat_last']}\": the spread of the last {facts['flat_last']} test accuracies.",
                   ["network", "epochs", "training-sample accuracy", "test accuracy", "best test accuracy",
                    f"last {facts['flat_last']}", "wall time"],
                   [[r["network"], f"{r['epochs']:g} ({num(r['steps'])} steps)", pct(r["train_accuracy"]),
                     pct(r["test_accuracy"]), pct(r["best_test_accuracy"]), "–" if math.isnan(r["final_spread"]) else f"{100 * r['final_spread']:.2f} points",
                     secs(r["wall_seconds"])] for r in (answer, aug, plain)],
                   ["l", "r", "r", "r", "r", "r", "r"])
    n_test = facts["test_examples"] if cfg["test_size"] is None else cfg["test_size"]
    se = lambda p: _binomial_se(p, n_test)   # noqa: E731
    aug_diff = aug["test_accuracy"] - answer["test_accuracy"]
    aug_half = 1.96 * (se(aug["test_accuracy"]) ** 2 + se(answer["test_accuracy"]) ** 2) ** 0.5
    aug_verdict = "higher" if aug_diff - aug_half > 0 else "lower" if aug_diff + aug_half < 0 else "indistinct"
    confusion = result.tables["confusion"].set_index("index")
    m = confusion.to_numpy()
    confusion_acc = float(m.trace() / m.sum())
    conf = Figure(slug("bonn.p4", "confusion"), to_svg(figures.confusion_matrix(confusion)),
                  "The answer's confusion matrix on the test set: row i shows, in %, how the test images of true "
                  "class i were labelled (each row sums to 100%).")
    pc = per_class.rename(columns={"class": "name"}).sort_values("error", ascending=False)
    rows = [[r.name, pct(r.error, 1), r.most_confused_with, num(r.confused_count), pct(r.error_augmented, 1),
             pct(r.error_plain, 1)] for r in pc.itertuples()]
    table = Table(slug("bonn.p4", "classes"), f"The answer's test error per class ({num(facts['test_examples'])} "
                  "test images, hardest first), the class each is most often mistaken for and how often; last two "
                  "columns: the same error for the network trained on augmented images and for the network without "
                  "regularisation.",
                  ["class", "test error", "most often predicted instead", "how often", "augmented", "no regularisation"],
                  rows, ["l", "r", "l", "r", "r", "r"])
    params = param_table("bonn.p4", "params", result.tables["params"],
                         "The same CNN with 3 input channels on 32×32 images: only the first convolution and the "
                         "first dense layer change size.")
    evals = h[h["step"] > 0].tail(facts["flat_last"])
    per_epoch = cfg["steps"] / answer["epochs"]
    gap = answer["train_accuracy"] - answer["test_accuracy"]
    plain_gap = plain["train_accuracy"] - plain["test_accuracy"]
    return {"run": run, "final": final, "acc": acc, "loss": loss, "conf": conf, "table": table, "facts": facts,
            "answer": answer, "aug": aug, "plain": plain, "params": params, "nets": nets_t,
            "meets": answer["test_accuracy"] >= facts["target"],
            "flat": None if math.isnan(answer["final_spread"]) else answer["final_spread"] <= within, "within": within,
            "flat_from": evals["step"].iloc[0] / per_epoch, "flat_to": evals["step"].iloc[-1] / per_epoch,
            "minutes": answer["wall_seconds"] / 60, "gap": gap, "fit": "overfits" if gap > 0.05 else "some" if gap > 0.02 else "none",
            "plain_gap": plain_gap, "plain_overfits": plain_gap > 0.05,
            "plain_diff": plain["test_accuracy"] - answer["test_accuracy"],
            "aug_diff": aug_diff, "aug_half": aug_half, "aug_verdict": aug_verdict, "n_test": n_test,
            "aug_flat": None if math.isnan(aug["final_spread"]) else aug["final_spread"] <= within,
            "best_step": int(h.loc[h["test_accuracy"].idxmax(), "step"]),
            # plain dicts: a pandas row's .name is its index label, not the "name" column
            "hardest": pc.iloc[0].to_dict(), "easiest": pc.iloc[-1].to_dict(),
            "confusion_acc": confusion_acc, "same_test_set": cfg["test_size"] is None,
            "consistent": abs(confusion_acc - answer["test_accuracy"]) < 1e-3}
