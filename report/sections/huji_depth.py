"""Report sections: HUJI 67103, question 3: the smallest shallow and deep networks, and their speed (experiments.huji_depth)."""

from __future__ import annotations

import re

import pandas as pd

from ex1.stats import signed, welch

from .. import figures
from ..figures import to_svg
from .common import Figure, Table, mean_std_pct, num, one_line, param_table, pct, section, shape, slug, tex_grouped


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
                    f"over {seeds} seeds; ✓ in 'none smaller as good': no smaller network is as accurate on average.",
                    ["network", "parameters", "train accuracy, mean", "validation accuracy, mean ± std",
                     "lowest seed", "none smaller as good", f"every seed ≥ {pct(level)}"],
                    [[_cell(r.label, family), num(r.params), pct(r.train_mean), f"{100 * r.validation_mean:.2f} ± {100 * r.validation_std:.2f}%",
                      pct(r.validation_min), "✓" if r.frontier else "", "✓" if r.every_seed_reaches else ""]
                     for r in t.itertuples()],
                    ["l", "r", "r", "r", "r", "l", "l"], kind="more")
    bottom = figures.frontier_bottom({family: t}, target)
    fig = Figure(slug(qid, "frontier"), to_svg(figures.frontier({family: t}, target, {family: chosen},
                                                                per_seed={family: per_seed}, level=level)),
                 f"Validation accuracy against parameters of every {what}"
                 + ("; the ring marks the chosen network" if chosen else "")
                 + (f"; below {bottom:g}%, triangles on the bottom edge give their accuracy."
                    if (per_seed["validation_accuracy"] * 100 < bottom).any() else "."))
    cl = result.tables["candidate_layers"]
    cl = cl[~cl["type"].isin(["InputLayer", "Flatten", "Dropout"])]
    layer_names = list(dict.fromkeys(cl["layer"]))
    cand_rows = []
    for label in t["label"]:
        g = cl[cl["label"] == label].set_index("layer")
        cand_rows.append([one_line(pretty(label))] + [(shape(g.loc[n, 'output_shape']) + (f" ({num(g.loc[n, 'params'])})"
                                                                          if g.loc[n, "params"] else ""))
                                    if n in g.index else "" for n in layer_names])
    cand_t = Table(slug(qid, "layers"), f"Every {what} layer by layer: output shape and, in brackets, parameters "
                   "(pooling has none; flattening is left out).", ["network"] + layer_names, cand_rows,
                   ["l"] + ["r"] * len(layer_names), kind="architectures")
    naming = ("“shallow F×K×K/sS, pool P” is one convolution (F filters of K×K, stride S, ReLU), P×P max pooling, then "
              "the dense layer to the ten logits" if family == "shallow" else
              "“deep a-b-c” is question 1's network without dropout, with a and b filters in its two 5×5 "
              "convolutions and c hidden units")
    ctx = {"naming": naming, "candidates": cand_t, "sweep": sweep_t, "frontier": fig, "chosen": chosen, "target": target, "n": len(t),
           "seeds": seeds, "validation": facts["validation"], "hits": int(t["every_seed_reaches"].sum()),
           "level": level, "margin_z": facts["margin_z"], "params_range": (int(t["params"].min()), int(t["params"].max())),
           "level_se": (level - target) / facts["margin_z"],
           "run": next((r for r in record["runs"] if r["label"] == chosen), None)}
    if chosen is None:
        ctx["best"] = t.sort_values("validation_mean").iloc[-1]
        ctx["best_label"] = pretty(ctx["best"].label)
        ctx["literal"] = _literal_sentence(result, t, target, None, 0)
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
        boundary = "No smaller candidate was trained, so where the level is crossed below it is not known."
    else:
        failing = per_seed[(per_seed["label"] == miss.label) & (per_seed["validation_accuracy"] < level)]
        boundary = (f"The next smaller, {pretty(miss.label)} ({num(miss.params)} parameters), misses {pct(level)} on "
                    f"{len(failing)} of {int(miss.seeds)} seeds (lowest {pct(miss.validation_min)}).")
    below = int((test["test_accuracy"] < target).sum())
    ctx.update({
        "row": row, "params": int(row.params), "test": test_t, "boundary": boundary, "loss_sentence": _loss_sentence(h),
        # the sheet's literal answer is named by its own sentence: the margin-only list leaves it out
        "margin_only": _margin_only_sentence(t[t["label"] != facts.get("literal")] if "literal_test" in result.tables
                                             else t, row, target, level),
        "literal": _literal_sentence(result, t, target, row, int((test["test_accuracy"] < target).sum())),
        "literal_same": facts.get("literal") == row.label,
        "test_mean": mean_std_pct(test["test_accuracy"], seeds=False), "n_test_seeds": len(test),
        "validation_mean": mean_std_pct(test["validation_accuracy"], seeds=False),
        "test_sentence": (f", every seed above {pct(target, 0)}."
                          if not below else
                          f"; {below} of {len(test)} seeds {'falls' if below == 1 else 'fall'} below "
                          f"{pct(target, 0)}. " + _validation_gap_sentence(test, target)),
        "table": param_table(qid, "params", params, f"Parameters of the chosen network ({chosen}), layer by layer."),
        "layers": [{"layer": r.layer, "tex": tex_grouped(r.formula_tex), "params": int(r.params),
                    "shape": shape(r.output_shape), "rule": shape(r.size_rule)} for r in nonzero.itertuples()],
        "sum_tex": "N = " + " + ".join(f"{int(p):,}".replace(",", "{,}") for p in nonzero["params"])
                   + f" = {int(row.params):,}".replace(",", "{,}"),
        "loss": Figure(slug(qid, "loss"), to_svg(figures.loss_curves({family: h}, held_out="validation")),
                       f"Loss of {chosen} (seed {int(test['seed'].iloc[0])}) on the training sample (dashed) and the "
                       "validation images (solid), log scale."),
        "acc": Figure(slug(qid, "acc"), to_svg(figures.accuracy_curves({family: h}, zoom_from=90.0,
                                                                         held_out="validation")),
                      f"Train (dashed) and validation (solid) accuracy of {chosen} (seed {int(test['seed'].iloc[0])})"
                      + figures.panels_note({family: h}, 90.0)),
    })
    return ctx


@section("huji.3.1")
def huji_3_1(result, record) -> dict:
    ctx = _sweep_section("huji.3.1", result, record, "shallow candidate")
    ctx.pop("acc", None)   # 3.1.2 asks for the loss only: an accuracy figure would be a figure file the PDF lacks
    return ctx


@section("huji.3.2")
def huji_3_2(result, record) -> dict:
    ctx = _sweep_section("huji.3.2", result, record, "reduced deep candidate")
    if "acc" in ctx:   # the loss (one panel, log scale) shows the training on the page; the accuracy backs it
        ctx["acc"].kind = "more"
    return ctx


def _convergence_sentences(measures: list[tuple[str, str, str, dict, object]]) -> list[str]:
    """For each (unit, the level said of one network, said of both, seconds or steps per family, formatter): which
    network needs less of the unit to reach the level, or that its seeds cannot tell the two apart. Every measure that
    tells the networks apart shares one sentence, every one that does not another."""
    apart, together, n_seeds, measurable = [], {}, 0, True
    for unit, level, level_both, d, fmt in measures:
        s, dp = d["shallow"], d["deep"]
        diff = welch(s.mean(), s.std(), len(s), dp.mean(), dp.std(), len(dp))
        n_seeds, measurable = len(s), measurable and diff.measurable
        if diff.significant:
            lo, hi = sorted((abs(diff.low), abs(diff.high)))
            apart.append(f"in {unit} the {'deep' if diff.diff < 0 else 'shallow'} network reaches {level} first "
                         f"(by {fmt(lo)} to {fmt(hi)} {unit}")
        else:
            def signed_fmt(x, fmt=fmt):
                return ("" if fmt(abs(x)) == fmt(0) else "−" if x < 0 else "+") + fmt(abs(x))
            detail = f" ({signed_fmt(diff.low)} to {signed_fmt(diff.high)} {unit})" if diff.measurable else ""
            together.setdefault(unit, []).append(f"{level_both}{detail}")
    out = []
    if apart:
        said = (apart[0] + ", 95% interval)." if len(apart) == 1
                else ") and ".join(apart) + "); 95% intervals.")
        out.append(said[0].upper() + said[1:])
    if together:
        where = ", nor ".join(f"in {unit} to {' or to '.join(levels)}" for unit, levels in together.items())
        out.append(f"The two cannot be told apart {where}: "
                   + (f"each 95% interval of the difference (deep minus shallow, {n_seeds} seeds) includes zero."
                      if measurable else "with one seed a side there is no interval."))
    return out


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
    table = Table(slug("huji.3.3", "speed"), f"Convergence of the two chosen networks: mean ± std over "
                  f"{facts['seeds']} seeds; s: seconds of training, evaluations excluded.",
                  ["network", "parameters", f"steps to {rel:.0%} of final", f"s to {rel:.0%} of final",
                   f"steps to {pct(common)}", f"s to {pct(common)}", "final test"],
                  [[pretty(first[f].label), num(first[f].params), mean_std("own_step", num, f),
                    mean_std("own_seconds", lambda x: f"{x:.1f}", f), mean_std("common_step", num, f),
                    mean_std("common_seconds", lambda x: f"{x:.1f}", f),
                    mean_std_pct(g.get_group(f)["final_accuracy"], seeds=False)] for f in fams],
                  ["l", "r", "r", "r", "r", "r", "r"])
    mean_curves = {pretty(first[f].label): curves[curves["family"] == f].groupby("step", as_index=False)[
        ["heldout_accuracy", "train_s"]].mean() for f in fams}
    by_step = Figure(slug("huji.3.3", "steps"), to_svg(figures.accuracy_against(
        mean_curves, "step", "training step (mini-batches)", common)),
        f"MNIST test accuracy of the two chosen networks against steps, mean of {facts['seeds']} seeds; the dotted line "
        f"is the common level {pct(common)}.", kind="more")
    by_time = Figure(slug("huji.3.3", "time"), to_svg(figures.accuracy_against(
        mean_curves, "train_s", "training time (s)", common)),
        f"Test accuracy against seconds of training, mean of {facts['seeds']} seeds; dotted: the common level "
        f"{pct(common)}.")
    reached = not sp[["own_step", "common_step"]].isna().any().any()
    sentences, why, measured, profile_t, profile_s = [], "", False, None, ""
    if reached:
        def by(col):
            return {f: g.get_group(f)[col].astype(float) for f in fams}
        own, level = (f"{rel:.0%} of its final accuracy", f"{rel:.0%} of their final accuracies"), \
            f"the common level {pct(common)}"
        secs1 = lambda x: f"{x:.1f}"   # noqa: E731
        sentences = _convergence_sentences([("steps", *own, by("own_step"), num),
                                            ("steps", level, level, by("common_step"), num),
                                            ("seconds", *own, by("own_seconds"), secs1),
                                            ("seconds", level, level, by("common_seconds"), secs1)])
        step_diff, common_diff = (welch(*(lambda s, d: (s.mean(), s.std(), len(s), d.mean(), d.std(), len(d)))(
            by(col)["shallow"], by(col)["deep"])) for col in ("own_step", "common_step"))
        final = {f: g.get_group(f)["final_accuracy"].mean() for f in fams}
        ahead = "deep" if final["deep"] > final["shallow"] else "shallow"
        if (step_diff.significant and common_diff.significant and (step_diff.diff > 0) != (common_diff.diff > 0)
                and (step_diff.diff > 0) == (ahead == "deep")):   # the network that ends higher is later on its own bar
            why = (f"The measures disagree because the {ahead} network ends higher ({pct(final[ahead])} against "
                   f"{pct(final['shallow' if ahead == 'deep' else 'deep'])}): {rel:.0%} of its own final accuracy is a "
                   "higher bar, reached later although it passes the common level first.")
        elif step_diff.significant and step_diff.diff < 0:
            why = ("A possible reason the deep network needs fewer steps (untested): pooling twice gives its few "
                   "parameters larger, already-combined features, while the shallow one separates the classes with "
                   "one dense layer on one level of features.")
        elif step_diff.significant:
            why = ("A possible reason the shallow network needs fewer steps (untested): the gradient reaches its single "
                   "convolution directly, while the deep network's narrow layers are bottlenecks it must pass twice.")
        else:
            why = "The cost of a step separates them."
        ips = {f: g.get_group(f)["images_per_second"].mean() for f in fams}
        ratio = ips["shallow"] / ips["deep"]
        speeds = f"{num(ips['deep'])} against {num(ips['shallow'])} images/s"
        profile = result.tables.get("profile")
        measured = profile is not None and not profile.empty
        if measured:   # one process times both networks' steps and their parts: the step cost the answer states
            profile_t = _profile_table(profile, {f: pretty(first[f].label) for f in fams})
            batch = (record.get("runs") or [{}])[0].get("config", {}).get("batch_size")
            # the mean of the runs' own step times, as appendix D lists their seconds (not a step time from mean images/s)
            step_ms = {f: float((1000 * batch / g.get_group(f)["images_per_second"]).mean()) for f in fams} if batch else None
            profile_s = _profile_sentence(profile, ratio, step_ms)
        else:          # an answer stored before the profile: the runs' own throughput
            cost = (_step_cost_sentence({f: int(g.get_group(f)["forward_macs"].iloc[0]) for f in fams}, ratio, speeds)
                    if "forward_macs" in sp else "")
            if "times as long" not in cost:   # the arithmetic does not explain the step's cost: say the cost plainly
                cost = (f"A deep step takes {ratio:.2f} times the time of a shallow one ({speeds})."
                        + (" " + cost if cost else ""))
            why += " " + cost
    bounds = (record.get("runs") or [{}])[0].get("config", {}).get("lr_boundaries") or []
    window = 2 * (record.get("runs") or [{}])[0].get("config", {}).get("eval_every", 0) * 5
    at_drop = reached and bool(bounds) and all(0 <= s - bounds[0] <= window for s in sp["own_step"])
    schedule = (f"Every run reaches {rel:.0%} of its final accuracy within {num(window)} steps of the tenfold "
                f"learning-rate drop at step {num(bounds[0])}: the schedule, more than the architecture, decides when "
                "training stops improving." if at_drop else "")
    return {"empty": False, "table": table, "by_step": by_step, "by_time": by_time, "sentences": sentences,
            "profile": profile_t if reached and measured else None, "profile_sentence": profile_s if measured else "",
            "why": why, "schedule": schedule, "facts": facts, "reached": reached,
            "lowest_final": float(sp["final_accuracy"].min())}


def _with_rest(profile: pd.DataFrame) -> pd.DataFrame:
    """The profile with, per network, the rest of the whole step beyond its parts timed alone (the loss, and what
    the framework does between layers and runs only when they are chained), placed before the whole step."""
    out = []
    for fam, g in profile.groupby("family", sort=False):
        whole = g[g["kind"] == "step"]
        rest = float(whole["step_time_ms"].iloc[0]) - float(g.loc[g["kind"] != "step", "step_time_ms"].sum())
        out += [g[g["kind"] != "step"], pd.DataFrame([{"part": "rest of the step", "kind": "rest", "forward_macs": 0,
                                                       "step_time_ms": rest, "family": fam}]), whole]
    return pd.concat(out, ignore_index=True)


def _profile_table(profile: pd.DataFrame, names: dict[str, str]) -> Table:
    p = _with_rest(profile)
    rows = [[one_line(names[r.family]) if i == 0 else "", r.part,
             num(r.forward_macs) if r.forward_macs else "—", f"{r.step_time_ms:.3f}"]
            for fam in names for i, r in enumerate(p[p["family"] == fam].itertuples())]
    return Table(slug("huji.3.3", "profile"), "Where a training step's time goes (batch 50, the runs' precision): each "
                 "layer's forward and backward pass timed alone on inputs of its shape, the Adam update, the rest of the "
                 "step (the whole step minus those parts) and the whole step; milliseconds per step, the fastest of 5 "
                 "timings of many steps.", ["network", "part", "multiply-adds per image", "ms per step"], rows,
                 ["l", "l", "r", "r"], kind="more")


def _loss_sentence(h: pd.DataFrame) -> str:
    """What the chosen network's loss curve shows, in its own numbers: how far and how fast it falls, and how far
    apart the training-sample and validation losses end."""
    start, train, val = (float(v) for v in (h["train_loss"].iloc[0], h["train_loss"].iloc[-1], h["heldout_loss"].iloc[-1]))
    if not (start > train > 0):
        return ""
    most = int(h.loc[h["train_loss"] <= start - 0.9 * (start - train), "step"].iloc[0])
    gap = (val - train) / train
    return (f"The training-sample loss falls from {start:.2f} to {train:.3f}, nine tenths of the fall in the first "
            f"{num(most)} of {num(int(h['step'].iloc[-1]))} steps; the validation loss ends at {val:.3f}, "
            + f"{abs(gap):.1%} {'above' if gap > 0 else 'below'} it"
            + (" (the two curves overlap): no sign of overfitting." if abs(gap) < 0.05 else "."))


def _profile_sentence(profile: pd.DataFrame, runs_ratio: float | None = None,
                      runs_ms: dict[str, float] | None = None) -> str:
    """The step cost from one process's timings, after 'Timed in one process (Table n), ': whole steps against their
    arithmetic (and against the ratio of the runs' own throughput, which includes loading batches and a busier
    machine), and the difference split into the layers only the deep network has, the layers both have, the update
    and the rest of the step."""
    p = _with_rest(profile)
    by = {fam: g.set_index("part") for fam, g in p.groupby("family", sort=False)}
    deep, shallow = by["deep"], by["shallow"]
    wd, ws = (float(t.loc["whole step", "step_time_ms"]) for t in (deep, shallow))
    md, ms = (int(t.loc["whole step", "forward_macs"]) for t in (deep, shallow))
    runs = f"; {runs_ratio:.2f} in the runs themselves" if runs_ratio else ""
    if runs_ratio and runs_ms:   # the runs' own steps are longer: they load batches, beside other work on the machine
        runs = (f"; in the runs themselves {runs_ms['deep']:.1f} against {runs_ms['shallow']:.1f} ms, which include "
                f"loading the batches, {runs_ms['deep'] / runs_ms['shallow']:.2f} times")
    s = (f"a deep step takes {wd / ws:.2f} times a shallow one ({wd:.2f} against {ws:.2f} ms{runs}) for {md / ms:.2f} "
         f"times the multiply-adds ({num(md)} against {num(ms)} per image)")
    extra = [q for q in deep.index if q not in shallow.index and deep.loc[q, "kind"] not in ("optimizer", "step", "rest")]
    gap = wd - ws
    if not extra or gap <= 0:
        return s + "."
    layers = float(deep.loc[extra, "step_time_ms"].sum())
    both = [q for q in deep.index if q in shallow.index and deep.loc[q, "kind"] not in ("optimizer", "step", "rest")]
    shared = float(deep.loc[both, "step_time_ms"].sum() - shallow.loc[both, "step_time_ms"].sum())
    update = float(deep.loc[deep["kind"] == "optimizer", "step_time_ms"].sum()
                   - shallow.loc[shallow["kind"] == "optimizer", "step_time_ms"].sum())
    rest = float(deep.loc["rest of the step", "step_time_ms"] - shallow.loc["rest of the step", "step_time_ms"])
    s += (f". Of the profile's {gap:.2f} ms difference, the layers only the deep network has ({', '.join(extra)}) take "
          f"{layers:.2f} ms, the layers both have {shared:+.2f}, the Adam update {update:+.2f} and the rest of the step "
          f"{rest:+.2f}")
    extra_macs = int(deep.loc[extra, "forward_macs"].sum())
    if wd / ws > 1.25 * md / ms and layers >= 0.5 * gap:
        s += f": most of it is in layers that do {extra_macs / md:.0%} of the deep network's multiply-adds"
        top, first = deep.loc[extra, "step_time_ms"].astype(float).idxmax(), deep.index[0]
        t_top, t_first = float(deep.loc[top, "step_time_ms"]), float(deep.loc[first, "step_time_ms"])
        m_top, m_first = float(deep.loc[top, "forward_macs"] or 0), float(deep.loc[first, "forward_macs"] or 0)
        if m_top > 0 and m_first > 0 and t_top / t_first > 1.5 * m_top / m_first:
            s += (f". Layer {top} alone takes {t_top:.2f} ms for {num(m_top)} multiply-adds per image, "
                  f"{t_top / t_first:.0%} of {first}'s time for {m_top / m_first:.0%} of its multiply-adds. At these "
                  "sizes a layer's time follows its arithmetic only loosely; much of it is the fixed cost of running "
                  "the layer's operations, which a deeper network pays once more per layer")
    shared_macs = {f: int(t.loc[both, "forward_macs"].fillna(0).sum()) for f, t in (("deep", deep), ("shallow", shallow))}
    if shared > 0.1 * gap and shared_macs["deep"] < shared_macs["shallow"]:
        s += (f". The layers both have take {shared:.2f} ms more in the deep network although they do fewer "
              f"multiply-adds ({num(shared_macs['deep'])} against {num(shared_macs['shallow'])} per image): arithmetic "
              "does not explain that part either")
    return s + "."


def _step_cost_sentence(macs: dict[str, int], ratio: float, speeds: str = "") -> str:
    """The arithmetic of one image's forward pass against the measured cost of a step (ratio: shallow's speed over
    deep's; speeds: the two measured speeds as text): at these sizes a step's time follows the number of layers more
    than the arithmetic."""
    head = (f"One image's forward pass takes {num(macs['deep'])} multiply-adds in the deep network and "
            f"{num(macs['shallow'])} in the shallow one")
    time_ratio, mac_ratio = ratio, macs["deep"] / macs["shallow"]   # a deep step takes `ratio` times a shallow one
    if time_ratio > 1 and mac_ratio < time_ratio:
        return (head + f", {mac_ratio:.2f} times as many, yet a deep step takes {time_ratio:.2f} times as long"
                + (f" ({speeds})" if speeds else "") + ": the cost comes not from arithmetic but, likely (not "
                "profiled), from the deep network's extra layers, each a separate small operation forward and backward.")
    return head + "."


# ----------------------------------------------------------------------------- HUJI 5


def _margin_only_sentence(t: pd.DataFrame, chosen, target: float, level: float) -> str:
    """The smaller candidates that the margin alone excludes: every seed at the target, not every seed at the level."""
    m = t[(t["params"] < chosen.params) & (t["validation_min"] > target) & ~t["every_seed_reaches"]]
    if m.empty:
        return ""
    names = ", ".join(f"{pretty(r.label)} ({num(r.params)} parameters, lowest seed {pct(r.validation_min)})"
                      for r in m.itertuples())
    one = len(m) == 1
    return (f"Smaller, {names} {'is' if one else 'are'} above {pct(target, 0)} on every seed but not at "
            f"{pct(level)}: the margin alone excludes {'it' if one else 'them'}.")


def _validation_gap_sentence(test: pd.DataFrame, target: float) -> str:
    """How the validation images that picked the network compare with the test images, seed by seed, against the
    chosen network's margin above the threshold on the validation images."""
    gap = test["validation_accuracy"] - test["test_accuracy"]
    margin = test["validation_accuracy"].mean() - target
    higher = int((gap > 0).sum())
    head = (f"The validation images score {100 * abs(gap.mean()):.2f} points "
            f"{'higher' if gap.mean() > 0 else 'lower'} than the test images on average (higher for {higher} of "
            f"{len(test)} seeds)")
    if gap.mean() > margin:
        return head + (f", more than the network's mean margin of {signed(100 * margin)} points above "
                       f"{pct(target, 0)} on them: the margin does not carry over to the test set.")
    return head + f"; its mean margin above {pct(target, 0)} on them is {signed(100 * margin)} points."


def _literal_sentence(result, t: pd.DataFrame, target: float, chosen, chosen_below: int) -> str:
    """The sheet's literal answer (every seed above the target on the validation images, no margin) beside the
    rule's (`chosen`, None where no candidate meets the rule), with its test accuracy, where the two differ."""
    label = result.facts.get("literal")
    if not label or "literal_test" not in result.tables:
        return ""
    row = t[t["label"] == label].iloc[0]
    test = result.tables["literal_test"]
    below = int((test["test_accuracy"] < target).sum())
    smaller = chosen is not None and row.params < chosen.params
    head = (f"Read literally (every seed above {pct(target, 0)} on the validation images, no margin), the sheet's "
            f"answer is {'the smaller ' if smaller else ''}{pretty(label)}, with <b>{num(row.params)}</b> parameters "
            f"(lowest seed {pct(row.validation_min)}); on test it scores "
            f"{mean_std_pct(test['test_accuracy'], seeds=False)} ({', '.join(pct(a) for a in test['test_accuracy'])} "
            "by seed), ")
    if below:
        return head + (f"{below} of {len(test)} seeds below {pct(target, 0)}"
                       + (": the margin guards against exactly that." if chosen is not None and not chosen_below
                          else "."))
    # Both meet the sheet on test: say which is the answer and what the margin cost, so it reads as one answer.
    return head + (f"every seed above {pct(target, 0)}, so on these {len(test)} seeds the margin cost "
                   f"{num(chosen.params - row.params)} parameters it did not need." if smaller else
                   f"every seed above {pct(target, 0)}.")
