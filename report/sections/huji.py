"""Report sections: HUJI 67103, the practical questions 1-5."""

from __future__ import annotations

import re

import pandas as pd

from ex1.stats import contrast, p_value, paired, signed, welch
from experiments import huji_sum
from experiments.huji import BASELINE, LINEAR, SOFTMAX

from .. import figures
from ..figures import to_svg
from .common import Figure, Table, binomial_se, check_table, first_step_reaching, interval, mean_std_pct, num, one_line, param_table, pct, pm, run_of, sci, section, shape, sign_beyond, slug, tex_grouped


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
    run = run_of(record, BASELINE)
    cfg = run["config"]
    test_acc, train_acc = float(final["test_accuracy"]), float(final["train_accuracy"])
    gap = train_acc - test_acc
    n_train_eval = facts["train_eval_examples"] or facts["train_examples"]
    # Two binomial proportions: a gap inside two standard errors is sampling noise.
    se = (train_acc * (1 - train_acc) / n_train_eval + test_acc * (1 - test_acc) / facts["test_examples"]) ** 0.5
    se_text = (f"the standard error of the difference is {100 * se:.2f} points, binomial over "
               f"{num(n_train_eval)} training and {num(facts['test_examples'])} test images")
    if abs(gap) <= 2 * se:
        gap_sentence = (f"Train and test accuracy end {100 * abs(gap):.2f} points apart, within two standard "
                        f"errors ({se_text}): no measurable generalisation gap.")
    elif gap > 0:
        gap_sentence = (f"Training accuracy ends {100 * gap:.2f} points above test accuracy, {gap / se:.1f} times "
                        f"the standard error with which the two are measured ({se_text}): a small generalisation "
                        "gap, not an accident of which images were measured.")
    else:
        gap_sentence = (f"Test accuracy ends {100 * -gap:.2f} points above the accuracy on the training sample, "
                        f"{-gap / se:.1f} standard errors ({se_text}): the training images "
                        "are on average the harder ones at this point of training.")
    sheet_step = first_step_reaching(h, "test_accuracy", facts["sheet_target"])
    curves = {BASELINE: h}
    fig = Figure(slug("huji.1.2", "acc"), to_svg(figures.accuracy_curves(curves)),
                 f"The HUJI network on MNIST: train accuracy (dashed, on a fixed sample of {num(n_train_eval)} training "
                 f"images) and test accuracy (solid, {num(facts['test_examples'])} test images), both in inference "
                 f"mode, every {cfg['eval_every']} steps"
                 + ("; the right panel zooms on the top of the scale." if figures.zoom_applies(curves, 97.0) else "."))
    loss = Figure(slug("huji.1.2", "loss"), to_svg(figures.loss_curves({BASELINE: h})),
                  "The HUJI network on MNIST: cross-entropy loss on the same training sample and test set (log scale).",
                  kind="more")
    return {
        "final": final, "test_acc": test_acc, "train_acc": train_acc, "gap_sentence": gap_sentence,
        "meets_sheet": test_acc > facts["sheet_target"], "meets_tutorial": test_acc >= facts["tutorial_accuracy"],
        "sheet_step": sheet_step, "run": run, "cfg": cfg, "facts": facts,
        "epochs": float(final["epoch"]), "figures": {"acc": fig, "loss": loss},
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
        close = ("exactly as accurate as" if round(100 * abs(vs_lr), 2) == 0
                 else f"within {100 * abs(vs_lr):.2f} points of")
        lr_sentence = (f"The linear network ends at {pct(lin['test_accuracy'])}, {close} "
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
                 "MNIST: train (dashed) and test (solid) accuracy of the original HUJI network, its linear version and "
                 "softmax regression, same optimiser, batch size and steps.")
    final_t = Table(slug("huji.2", "final"), "Final train and test accuracy and training throughput.",
                    ["model", "parameters", "train accuracy", "test accuracy", "test loss", "images/s"],
                    [[m, num(r.params), pct(r.train_accuracy), pct(r.test_accuracy), f"{r.test_loss:.4f}",
                      num(r.images_per_second)] for m, r in fin.iterrows()], ["l", "r", "r", "r", "r", "r"])
    speed_t = Table(slug("huji.2", "speed"), "Training steps until the test accuracy first reaches each level.",
                    ["model"] + [f"{pct(l, 0)}" for l in levels] + ["final"], speed_rows,
                    ["l"] + ["r"] * (len(levels) + 1), kind="more")
    aff_t = check_table("huji.2", "aff", aff, "The affinity check on pairs of real test images: "
                        "f(a x + (1-a) y) against a f(x) + (1-a) f(y), logits, inference mode, computed in float32 with the trained weights.",
                        ("max_abs_error", "relative_error"))
    def settle(h):  # first evaluation within half a point of the run's final test accuracy
        final_acc = h["test_accuracy"].iloc[-1]
        return int(h.loc[h["test_accuracy"] >= final_acc - 0.005, "step"].iloc[0])

    settle_lin, settle_base = settle(hist[LINEAR]), settle(hist[BASELINE])
    every = int(run_of(record, LINEAR)["config"]["eval_every"])
    if abs(settle_base - settle_lin) <= 2 * every:   # one seed each: a step or two of evaluations apart is no difference
        original = ("and so is the original network" if settle_lin == settle_base else
                    f"the original network from step {num(settle_base)}")
        settle_sentence = (f"Both settle at about the same point: the linear network is within half a point of its "
                           f"final accuracy from step {num(settle_lin)}, {original} (evaluations every {num(every)} steps, "
                           "one seed each).")
    elif settle_lin < settle_base:
        settle_sentence = (f"The linear network settles early: it is within half a point of its final accuracy from "
                           f"step {num(settle_lin)}, the original network only from step {num(settle_base)}; its "
                           "remaining steps are spent on a lower ceiling.")
    else:
        settle_sentence = (f"The linear network is within half a point of its final accuracy from step "
                           f"{num(settle_lin)}, the original network from step {num(settle_base)}.")
    return {"fig": fig, "final": final_t, "speed": speed_t, "aff": aff_t, "affine_ok": affine_ok,
            "settle_sentence": settle_sentence,
            "relu_breaks": relu_breaks, "lin_err": sci(lin_aff["relative_error"].max()),
            "relu_err": sci(relu_aff["relative_error"].max()), "drop": drop, "drop_verb": "costs" if drop > 0 else "gains", "lr_sentence": lr_sentence,
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



def pretty(label: str) -> str:
    """A run label as text: "shallow 3x5x5/s1, pool 6" -> "shallow 3×5×5/s1, pool 6" (an x between digits only)."""
    return re.sub(r"(?<=\d)x(?=\d)", "×", label)


def _cell(label: str, family: str) -> str:
    """A candidate's name on one line of a table whose caption already names the family."""
    return one_line(pretty(label.removeprefix(f"{family} ")))


def _sweep_section(qid: str, result, record, what: str) -> dict:
    t, per_seed = result.tables["sweep"], result.tables["sweep_seeds"]
    facts = result.facts
    family, target, chosen, seeds = facts["family"], facts["target"], facts["chosen"], facts["seeds"]
    level = facts["level"]   # what every seed must reach on the validation images: the target plus a margin
    # every candidate trains with one recipe: any run's config states it (the first by label, whatever the order)
    cfg = min(record["runs"], key=lambda r: (r["label"], r["config"]["seed"]))["config"] if record["runs"] else {}
    legend = ("filters×kernel×kernel/stride, pooling window" if family == "shallow"
              else "filters of the two 5×5 convolutions and units of the hidden dense layer")
    sweep_t = Table(slug(qid, "sweep"), f"Every {what} trained ({legend}), smallest first: accuracy on the "
                    f"{num(facts['validation'])} held-out validation images after {num(cfg.get('steps', 0))} steps, "
                    f"over {seeds} seeds; frontier = no smaller network is as accurate on average.",
                    ["network", "parameters", "train accuracy, mean", "validation accuracy, mean ± std",
                     "lowest seed", "frontier", f"every seed ≥ {pct(level)}"],
                    [[_cell(r.label, family), num(r.params), pct(r.train_mean), f"{100 * r.validation_mean:.2f} ± {100 * r.validation_std:.2f}%",
                      pct(r.validation_min), "✓" if r.frontier else "", "✓" if r.every_seed_reaches else ""]
                     for r in t.itertuples()],
                    ["l", "r", "r", "r", "r", "l", "l"], kind="more")
    fig = Figure(slug(qid, "frontier"), to_svg(figures.frontier({family: t}, target, {family: chosen},
                                                                per_seed={family: per_seed}, level=level)),
                 f"MNIST: validation accuracy against parameters for every {what}: each seed a dot, the mean a cross; "
                 f"the line joins the frontier of the means, the ring marks the smallest network whose every seed "
                 f"reaches {pct(level)} ({pct(target, 0)} with the margin for the validation sample, dashed).")
    cl = result.tables["candidate_layers"]
    cl = cl[~cl["type"].isin(["InputLayer", "Flatten", "Dropout"])]
    layer_names = list(dict.fromkeys(cl["layer"]))
    cand_rows = []
    for label in t["label"]:
        g = cl[cl["label"] == label].set_index("layer")
        cand_rows.append([label] + [(shape(g.loc[n, 'output_shape']) + (f" ({num(g.loc[n, 'params'])})"
                                                                          if g.loc[n, "params"] else ""))
                                    if n in g.index else "" for n in layer_names])
    cand_t = Table(slug(qid, "layers"), f"Every {what} layer by layer: output shape and, in brackets, parameters "
                   "(pooling has none; flattening is left out).", ["network"] + layer_names, cand_rows,
                   ["l"] + ["r"] * len(layer_names), kind="architectures")
    naming = ("“shallow F×K×K/sS, pool P” is one convolution of F filters of K×K at stride S with ReLU, then P×P max "
              "pooling (stride P, no parameters) before the fully connected layer to the ten logits" if family == "shallow" else
              "“deep a-b-c” has a and b filters in its two 5×5 convolutions and c units in its hidden dense layer")
    ctx = {"naming": naming, "candidates": cand_t, "sweep": sweep_t, "frontier": fig, "chosen": chosen, "target": target, "n": len(t),
           "seeds": seeds, "validation": facts["validation"], "hits": int(t["every_seed_reaches"].sum()),
           "level": level, "margin_z": facts["margin_z"], "params_range": (int(t["params"].min()), int(t["params"].max())),
           "level_se": (level - target) / facts["margin_z"],
           "run": next((r for r in record["runs"] if r["label"] == chosen), None)}
    if chosen is None:
        ctx["best"] = t.sort_values("validation_mean").iloc[-1]
        return ctx
    row = t[t["label"] == chosen].iloc[0]
    chosen = ctx["chosen"] = pretty(chosen)   # from here on the label is text, not a key
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
                          mean_std_pct(test["test_accuracy"], seeds=False)], kind="more")
    miss = t[t["label"] == facts["bracket"]].iloc[0] if facts.get("bracket") else None
    if miss is None:
        boundary = (f"No smaller candidate was trained, so the sweep does not show where the threshold is crossed "
                    f"below {num(row.params)} parameters.")
    else:
        failing = per_seed[(per_seed["label"] == miss.label) & (per_seed["validation_accuracy"] < level)]
        boundary = (f"The level is crossed between {pretty(miss.label)} ({num(miss.params)} parameters, "
                    f"{(1 - miss.params / row.params):.0%} fewer), which misses it on {len(failing)} of "
                    f"{int(miss.seeds)} seeds (lowest {pct(miss.validation_min)}), and the chosen network.")
    below = int((test["test_accuracy"] < target).sum())
    ctx.update({
        "row": row, "params": int(row.params), "test": test_t, "boundary": boundary,
        "margin_only": _margin_only_sentence(t, row, target, level),
        "test_mean": mean_std_pct(test["test_accuracy"], seeds=False), "n_test_seeds": len(test),
        "validation_mean": mean_std_pct(test["validation_accuracy"]),
        "test_sentence": (f"On the test set every seed of it is above {pct(target, 0)} as well."
                          if not below else
                          f"On the test set {below} of {len(test)} seeds {'falls' if below == 1 else 'fall'} below "
                          f"{pct(target, 0)}. " + _validation_gap_sentence(test, target)),
        "table": param_table(qid, "params", params, f"Parameters of the chosen network ({chosen}), layer by layer."),
        "layers": [{"layer": r.layer, "tex": tex_grouped(r.formula_tex), "params": int(r.params),
                    "shape": shape(r.output_shape), "rule": shape(r.size_rule)} for r in nonzero.itertuples()],
        "sum_tex": "N = " + " + ".join(f"{int(p):,}".replace(",", "{,}") for p in nonzero["params"])
                   + f" = {int(row.params):,}".replace(",", "{,}"),
        "loss": Figure(slug(qid, "loss"), to_svg(figures.loss_curves({family: h}, held_out="validation")),
                       f"Training of the chosen network ({chosen}, seed {int(test['seed'].iloc[0])}) on MNIST: cross-entropy "
                       "on the fixed training sample (dashed) and the validation images (solid), log scale."),
        "acc": Figure(slug(qid, "acc"), to_svg(figures.accuracy_curves({family: h}, zoom_from=90.0,
                                                                         held_out="validation")),
                      f"MNIST: train (dashed) and validation (solid) accuracy of the chosen network ({chosen}, "
                      f"seed {int(test['seed'].iloc[0])})."),
    })
    return ctx


@section("huji.3.1")
def huji_3_1(result, record) -> dict:
    return _sweep_section("huji.3.1", result, record, "shallow candidate")


@section("huji.3.2")
def huji_3_2(result, record) -> dict:
    ctx = _sweep_section("huji.3.2", result, record, "reduced deep candidate")
    if "acc" in ctx:   # the loss (one panel, log scale) shows the training on the page; the accuracy backs it
        ctx["acc"].kind = "more"
    return ctx


def _convergence_sentences(unit: str, levels: list[tuple[str, str, dict]], fmt) -> list[str]:
    """For each (level, the level said of both, seconds or steps per family): which network needs less `unit` to
    reach it, or that its seeds cannot tell the two apart; levels that tell nothing apart share one sentence."""
    apart, together = [], []
    for level, level_both, d in levels:
        s, dp = d["shallow"], d["deep"]
        diff = welch(s.mean(), s.std(), len(s), dp.mean(), dp.std(), len(dp))
        both = f"shallow {fmt(s.mean())} ± {fmt(s.std())}, deep {fmt(dp.mean())} ± {fmt(dp.std())} {unit}"
        if diff.significant:
            first = "deep" if diff.diff < 0 else "shallow"
            lo, hi = sorted((abs(diff.low), abs(diff.high)))
            apart.append(f"In {unit}, the {first} network reaches {level} first ({both}; the 95% interval of the "
                         f"difference, {fmt(lo)} to {fmt(hi)} {unit}, excludes zero).")
        else:
            together.append((level_both, both + (f", {p_value(diff.p)}" if diff.measurable else ""), len(s)))
    if together:
        reach = " or ".join(f"{level} ({detail})" for level, detail, _ in together)
        apart.append(f"In {unit}, the two networks cannot be told apart in reaching {reach}: over {together[0][2]} "
                     f"seeds {'each' if len(together) > 1 else 'the'} difference is within the spread between seeds.")
    return apart


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
                  ["network", "parameters", f"steps to {rel:.0%} of final", f"seconds to {rel:.0%} of final",
                   f"steps to {pct(common)}", f"seconds to {pct(common)}", "final test accuracy"],
                  [[one_line(pretty(first[f].label)), num(first[f].params), mean_std("own_step", num, f),
                    mean_std("own_seconds", lambda x: f"{x:.1f}", f), mean_std("common_step", num, f),
                    mean_std("common_seconds", lambda x: f"{x:.1f}", f),
                    mean_std_pct(g.get_group(f)["final_accuracy"], seeds=False)] for f in fams],
                  ["l", "r", "r", "r", "r", "r", "r"])
    mean_curves = {pretty(first[f].label): curves[curves["family"] == f].groupby("step", as_index=False)[
        ["test_accuracy", "train_s"]].mean() for f in fams}
    by_step = Figure(slug("huji.3.3", "steps"), to_svg(figures.accuracy_against(
        mean_curves, "step", "training step (mini-batches)", common)),
        f"MNIST test accuracy of the two chosen networks against steps, mean of {facts['seeds']} seeds; the dotted line "
        f"is the common level {pct(common)}.", kind="more")
    by_time = Figure(slug("huji.3.3", "time"), to_svg(figures.accuracy_against(
        mean_curves, "train_s", "training time (s)", common)),
        f"MNIST test accuracy of the two chosen networks ({', '.join(pretty(first[f].label) for f in fams)}) against "
        f"seconds of training on this machine, mean over {facts['seeds']} seeds at each evaluation; the dotted line is "
        f"the common level {pct(common)}.")
    reached = not sp[["own_step", "common_step"]].isna().any().any()
    sentences, why = [], ""
    if reached:
        def by(col):
            return {f: g.get_group(f)[col].astype(float) for f in fams}
        own, level = (f"{rel:.0%} of its final accuracy", f"{rel:.0%} of their final accuracies"), \
            f"the common level {pct(common)}"
        sentences = [
            *_convergence_sentences("steps", [(*own, by("own_step")), (level, level, by("common_step"))], num),
            *_convergence_sentences("seconds", [(*own, by("own_seconds")), (level, level, by("common_seconds"))],
                                    lambda x: f"{x:.1f}"),
        ]
        step_diff, common_diff = (welch(*(lambda s, d: (s.mean(), s.std(), len(s), d.mean(), d.std(), len(d)))(
            by(col)["shallow"], by(col)["deep"])) for col in ("own_step", "common_step"))
        final = {f: g.get_group(f)["final_accuracy"].mean() for f in fams}
        ahead = "deep" if final["deep"] > final["shallow"] else "shallow"
        if (step_diff.significant and common_diff.significant and (step_diff.diff > 0) != (common_diff.diff > 0)
                and (step_diff.diff > 0) == (ahead == "deep")):   # the network that ends higher is later on its own bar
            why = (f"The two measures disagree because the first is relative to each run's own final accuracy: the "
                   f"{ahead} network ends higher ({pct(final[ahead])} against "
                   f"{pct(final['shallow' if ahead == 'deep' else 'deep'])}), so 99% of it is a higher bar, which it "
                   "reaches later although it passes the common level first.")
        elif step_diff.significant and step_diff.diff < 0:
            why = ("A possible reason the deep network needs fewer steps, not tested here: pooling twice lets each of its few parameters act on larger, "
                   "already-combined features, while the shallow network must separate the classes with one dense "
                   "layer on a single level of features.")
        elif step_diff.significant:
            why = ("A possible reason the shallow network needs fewer steps, not tested here: the gradient reaches its single convolution directly, "
                   "while the deep network's narrow layers are bottlenecks the signal must pass through twice.")
        else:
            why = (f"With {facts['seeds']} seeds, a difference in steps smaller than the spread between seeds cannot be "
                   "detected; what separates the two networks is the cost of a step.")
        ips = {f: g.get_group(f)["images_per_second"].mean() for f in fams}
        ratio = ips["shallow"] / ips["deep"]
        sentences.append(f"One step of the shallow network costs {1 / ratio:.2f} times the time of one step of the "
                         f"deep one ({num(ips['shallow'])} against {num(ips['deep'])} images/s).")
        if "forward_macs" in sp:
            why += " " + _step_cost_sentence({f: int(g.get_group(f)["forward_macs"].iloc[0]) for f in fams}, ratio)
    bounds = (record.get("runs") or [{}])[0].get("config", {}).get("lr_boundaries") or []
    window = 2 * (record.get("runs") or [{}])[0].get("config", {}).get("eval_every", 0) * 5
    at_drop = reached and bool(bounds) and all(0 <= s - bounds[0] <= window for s in sp["own_step"])
    schedule = (f"Every run reaches {rel:.0%} of its final accuracy within {num(window)} steps after the tenfold "
                f"learning-rate drop at step {num(bounds[0])}: in this recipe the schedule, more than the "
                "architecture, decides when training stops improving." if at_drop else "")
    return {"empty": False, "table": table, "by_step": by_step, "by_time": by_time, "sentences": sentences,
            "why": why, "schedule": schedule, "facts": facts, "reached": reached,
            "lowest_final": float(sp["final_accuracy"].min())}


def _step_cost_sentence(macs: dict[str, int], ratio: float) -> str:
    """The arithmetic of one image's forward pass against the measured cost of a step (ratio: shallow's speed over
    deep's): at these sizes a step's time follows the number of layers more than the arithmetic."""
    head = (f"One image's forward pass takes {num(macs['shallow'])} multiply-adds in the shallow network and "
            f"{num(macs['deep'])} in the deep one")
    time_ratio, mac_ratio = ratio, macs["deep"] / macs["shallow"]   # a deep step takes `ratio` times a shallow one
    if time_ratio > 1 and mac_ratio < time_ratio:
        return (head + f", {mac_ratio:.2f} times as many, while the deep network's step takes {time_ratio:.2f} times "
                "as long: networks this small leave the processor mostly idle, and most of the difference comes from "
                "running more layers (forward and backward), each on small tensors, not from arithmetic.")
    return head + "."


# ----------------------------------------------------------------------------- HUJI 5

def _held_out_text(facts) -> str:
    return ", ".join(f"({a}, {b})" for a, b in facts["held_out"])


def _pair_training(qid: str, result, record, label: str, what: str) -> dict:
    h = result.tables["history"]
    fig = Figure(slug(qid, "acc"), to_svg(figures.accuracy_curves({label: h}, zoom_from=95.0)),
                 f"The {label} on pairs of MNIST digits: train (dashed, fixed sample of training pairs) and test (solid, test pairs) {what} every "
                 f"{run_of(record, label)['config']['eval_every']} steps.")
    params = result.tables["params"]
    return {"fig": fig, "final": h.iloc[-1], "run": run_of(record, label), "held_out": _held_out_text(result.facts),
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



def _margin_only_sentence(t: pd.DataFrame, chosen, target: float, level: float) -> str:
    """The smaller candidates that the margin alone excludes: every seed at the target, not every seed at the level."""
    m = t[(t["params"] < chosen.params) & (t["validation_min"] >= target) & ~t["every_seed_reaches"]]
    if m.empty:
        return ""
    names = ", ".join(f"{pretty(r.label)} ({num(r.params)} parameters, lowest seed {pct(r.validation_min)})"
                      for r in m.itertuples())
    one = len(m) == 1
    return (f"Smaller, {names} {'reaches' if one else 'reach'} {pct(target, 0)} on every seed too, but not "
            f"{pct(level)}: the margin alone excludes {'it' if one else 'them'}.")


def _validation_gap_sentence(test: pd.DataFrame, target: float) -> str:
    """How the validation images that picked the network compare with the test images, seed by seed, against the
    chosen network's margin above the threshold on the validation images."""
    gap = test["validation_accuracy"] - test["test_accuracy"]
    margin = test["validation_accuracy"].mean() - target
    higher = int((gap > 0).sum())
    head = (f"The validation images, which pick the network, score {100 * abs(gap.mean()):.2f} points "
            f"{'higher' if gap.mean() > 0 else 'lower'} than the test images on average (higher for {higher} of "
            f"{len(test)} seeds)")
    if gap.mean() > margin:
        return head + (f", more than the network's mean margin above {pct(target, 0)} on them "
                       f"({signed(100 * margin)} points): the margin does not carry over to the test set.")
    return head + f"; its mean margin above {pct(target, 0)} on them is {signed(100 * margin)} points."


def pair_error_sentence(d) -> str:
    """Both digits right against p², the rate if the two heads erred independently, with the direction
    chosen by the numbers: errors on the same pairs (positively correlated) push it above p²."""
    both, p2, n = float(d.both_digits_accuracy), float(d.digit_accuracy_squared), float(d.pairs)
    diff, se = both - p2, binomial_se(both, n)
    head = (f"Both digits are right for {pct(both)} of the pairs, against {pct(d.digit_accuracy, 3)}² = {pct(p2)} if "
            f"the two heads erred independently: a difference of {interval(diff, se)}, binomial over the pairs")
    return head + {1: "; the two heads tend to fail on the same pairs (positively correlated errors).",
                   -1: "; the two heads fail on different pairs more often than chance (negatively correlated errors).",
                   0: "; the data cannot tell it from independent errors."}[sign_beyond(diff, 1.96 * se)]


def overfit_sentence(gaps: dict[str, tuple[float, float]]) -> str:
    """Which model's train-minus-test gap is larger, if the binomial interval of the difference says so.
    gaps: model -> (gap, its standard error)."""
    (gs, ss), (gd, sd) = gaps["sum classifier"], gaps["two-digit network"]
    diff, se = gs - gd, (ss ** 2 + sd ** 2) ** 0.5
    head = (f"Accuracy on the training sample ends {100 * gs:.2f} points above test accuracy for the sum classifier "
            f"(its sum right) and {100 * gd:.2f} points for the two-digit network (both digits right), a difference "
            f"of {interval(diff, se)}")
    return head + {1: ": the sum classifier overfits more.", -1: ": the two-digit network overfits more.",
                   0: ": the two gaps are not distinguishable."}[sign_beyond(diff, 1.96 * se)]


@section("huji.5.3")
def huji_5_3(result, record) -> dict:
    ev, curves = result.tables["evaluation"], result.tables["curves"]
    hist = {m: g.reset_index(drop=True) for m, g in curves.groupby("model", sort=False)}
    get = {(r.model, r.split): r for r in ev.itertuples()}
    s_t, d_t = get[("sum classifier", huji_sum.SEEN)], get[("two-digit network", huji_sum.SEEN)]
    s_h, d_h = get[("sum classifier", huji_sum.HELD)], get[("two-digit network", huji_sum.HELD)]
    table = Table(slug("huji.5.3", "eval"), "Sum accuracy of both models (seed 0: the networks of 5.1 and 5.2) on test "
                  "pairs of the digit combinations seen in training and, apart, on test pairs of the combinations held "
                  "out of training; per-digit and both-digits accuracy of the two-digit network. Test pairs are drawn "
                  "from the 10,000 test images only.",
                  ["model", "test pairs", "pairs", "sum accuracy", "digit accuracy", "(digit accuracy)²",
                   "both digits right"],
                  [[one_line(r.model), r.split, num(r.pairs), pct(r.sum_accuracy),
                    pct(r.digit_accuracy) if r.digit_accuracy == r.digit_accuracy else "—",
                    pct(r.digit_accuracy_squared) if r.digit_accuracy_squared == r.digit_accuracy_squared else "—",
                    pct(r.both_digits_accuracy) if r.both_digits_accuracy == r.both_digits_accuracy else "—"]
                   for r in ev.itertuples()], ["l", "l", "r", "r", "r", "r", "r"])
    fig = Figure(slug("huji.5.3", "acc"), to_svg(figures.accuracy_curves(hist, zoom_from=95.0)),
                 "Pairs of MNIST digits, both models on one plot: accuracy of the sum classifier's sum and of the two-digit network's "
                 "pair (both digits right), on training pairs (dashed) and on test pairs of the combinations seen in "
                 "training (solid); same steps and optimiser.", kind="more")
    # Both models are scored on the same pairs: for one seed the comparison is paired, and only the pairs one model
    # gets right and the other wrong carry it (McNemar). Over seeds, Welch's test on the seeds' accuracies carries the
    # training noise as well, and decides.
    pat = result.tables["patterns"]
    pd_ = paired(pat[pat["split"] == huji_sum.SEEN], "sum classifier", "two-digit network", "pairs")
    bs = result.tables.get("by_seed")
    seen = bs[bs["split"] == huji_sum.SEEN] if bs is not None else None
    over = None
    if seen is not None and seen["seed"].nunique() > 1:
        acc = {m: seen[seen["model"] == m]["sum_accuracy"] for m in ("sum classifier", "two-digit network")}
        a, b = acc["sum classifier"], acc["two-digit network"]
        over = welch(a.mean(), a.std(), len(a), b.mean(), b.std(), len(b))
    seed0 = (f"the two models are scored on the same {num(pd_.n)} pairs, so the comparison is paired, the two-digit "
             f"network's accuracy minus the sum classifier's: {pd_.points()}; of the pairs only one model gets right, {num(pd_.only_a)} are the sum "
             f"classifier's and {num(pd_.only_b)} the two-digit network's, and only these discordant pairs enter "
             "the test")
    if over is not None:
        n_seeds = len(acc["sum classifier"])
        means = (f"the two-digit network's sum accuracy is {mean_std_pct(b, seeds=False)} against "
                 f"{mean_std_pct(a, seeds=False)} for the sum classifier ({n_seeds} seeds each), a difference of "
                 f"{over.points()}")
        lead = {"gain": "the two-digit network works better", "loss": "the sum classifier works better",
                "indistinct": "the two strategies cannot be told apart"}[over.direction]
        verdict = (f"On test pairs of the combinations seen in training {lead}: {means}. For seed "
                   f"{result.facts.get('seed', 0)}, the answers of 5.1 and 5.2 ({pct(d_t.sum_accuracy)} against "
                   f"{pct(s_t.sum_accuracy)}), {seed0}.")
    elif not pd_.significant:
        verdict = (f"On test pairs of the combinations seen in training the two strategies cannot be told apart: "
                   f"{pct(d_t.sum_accuracy)} for the two-digit network against {pct(s_t.sum_accuracy)}; {seed0}. "
                   "Each model was trained once, so this leaves out how far another training seed would move either.")
    else:
        better = "two-digit network" if pd_.diff > 0 else "sum classifier"
        verdict = (f"On test pairs of the combinations seen in training the {better} works better: a sum accuracy of "
                   f"{pct(max(d_t.sum_accuracy, s_t.sum_accuracy))} against "
                   f"{pct(min(d_t.sum_accuracy, s_t.sum_accuracy))}; {seed0}. Each model was trained once, so this "
                   "leaves out how far another training seed would move either.")
    seeds_t = None
    if bs is not None and bs["seed"].nunique() > 1:
        wide = bs.pivot_table(index="seed", columns=["model", "split"], values="sum_accuracy")
        cols = [(m, sp) for m in ("sum classifier", "two-digit network") for sp in (huji_sum.SEEN, huji_sum.HELD)]
        seeds_t = Table(slug("huji.5.3", "seeds"), "Sum accuracy of both models trained with every seed, on the "
                        "same test pairs: of the combinations seen in training, and of those held out of it.",
                        ["seed"] + [one_line(f"{m}, {'seen' if sp == huji_sum.SEEN else 'held out'}") for m, sp in cols],
                        [[str(int(sd))] + [pct(wide.loc[sd, c]) for c in cols] for sd in wide.index],
                        ["r"] * (1 + len(cols)), kind="more")
    gaps = {}
    for r in record.get("runs", []):
        h = hist.get(r["label"])
        if h is not None:
            n_train = min(r["config"]["train_eval_size"] or r["train_examples"], r["train_examples"])
            n_test = r["config"]["test_size"] or int(result.facts.get("test_pairs", s_t.pairs))
            tr, te = float(h["train_accuracy"].iloc[-1]), float(h["test_accuracy"].iloc[-1])
            gaps[r["label"]] = (tr - te, (binomial_se(tr, n_train) ** 2 + binomial_se(te, n_test) ** 2) ** 0.5)
    held_se = {m: binomial_se(get[(m, huji_sum.HELD)].sum_accuracy, get[(m, huji_sum.HELD)].pairs)
               for m in ("sum classifier", "two-digit network")}
    held_seeds = ""
    if bs is not None and bs["seed"].nunique() > 1:
        held = bs[bs["split"] == huji_sum.HELD]
        held_seeds = (" Over the " + str(held["seed"].nunique()) + " seeds the held-out pairs' sum accuracy is "
                      + mean_std_pct(held[held["model"] == "two-digit network"]["sum_accuracy"], seeds=False)
                      + " for the two-digit network and "
                      + mean_std_pct(held[held["model"] == "sum classifier"]["sum_accuracy"], seeds=False)
                      + " for the sum classifier.")
    return {"held_seeds": held_seeds, "seeds_t": seeds_t, "table": table, "fig": fig, "verdict": verdict, "d_t": d_t, "s_t": s_t, "d_h": d_h, "s_h": s_h,
            "sum_held_mostly_wrong": s_h.sum_accuracy < 0.5,
            "pair_errors": pair_error_sentence(d_t),
            "overfit": overfit_sentence(gaps) if len(gaps) == 2 else "",
            "held_gap": s_h.sum_accuracy - s_t.sum_accuracy, "held_digits_gap": d_h.sum_accuracy - d_t.sum_accuracy,
            "held_out": _held_out_text(result.facts), "facts": result.facts,
            "sum_generalises": s_h.sum_accuracy >= s_t.sum_accuracy - 1.96 * (held_se["sum classifier"] ** 2 + binomial_se(
                s_t.sum_accuracy, s_t.pairs) ** 2) ** 0.5,
            "digits_generalise": d_h.sum_accuracy >= d_t.sum_accuracy - 1.96 * (held_se["two-digit network"] ** 2 + binomial_se(
                d_t.sum_accuracy, d_t.pairs) ** 2) ** 0.5}


# ----------------------------------------------------------------------------- HUJI 4

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
