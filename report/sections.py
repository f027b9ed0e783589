"""Per-question report content: figures, tables and sentences derived from a stored Answer.

Sentences that compare numbers are chosen here by the comparison, never written in advance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from . import figures
from .figures import to_svg


@dataclass
class Figure:
    id: str
    svg: str
    caption: str


@dataclass
class Table:
    id: str
    caption: str
    columns: list[str]
    rows: list[list[str]]
    align: list[str] = field(default_factory=list)  # "l" or "r" per column
    total: list[str] | None = None                  # an emphasised last row


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
                 total=["total", "", "", "", "", num(t["params"].sum())])


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


def check_table(qid: str, name: str, df: pd.DataFrame, caption: str, error_cols: tuple[str, ...] = ()) -> Table:
    """A DataFrame as a report table; error columns in scientific notation."""
    rows = []
    for r in df.itertuples(index=False):
        rows.append([sci(v) if c in error_cols else (num(v) if isinstance(v, (int,)) and not isinstance(v, bool)
                     else (f"{v:.4g}" if isinstance(v, float) else str(v))) for c, v in zip(df.columns, r)])
    align = ["r" if pd.api.types.is_numeric_dtype(df[c]) else "l" for c in df.columns]
    return Table(id=slug(qid, name), caption=caption, columns=[c.replace("_", " ") for c in df.columns],
                 rows=rows, align=align)


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
    speed = lin["images_per_second"] / base["images_per_second"]
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
    return {"fig": fig, "final": final_t, "speed": speed_t, "aff": aff_t, "affine_ok": affine_ok,
            "relu_breaks": relu_breaks, "lin_err": sci(lin_aff["relative_error"].max()),
            "relu_err": sci(relu_aff["relative_error"].max()), "drop": drop, "lr_sentence": lr_sentence,
            "base": base, "lin": lin, "speed_ratio": speed,
            "lin_train_gap": lin["train_accuracy"] - lin["test_accuracy"],
            "base_train_gap": base["train_accuracy"] - base["test_accuracy"], "run": record["runs"][1]}
