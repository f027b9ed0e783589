"""Report sections: Tübingen, Assignment 10."""

from __future__ import annotations

import re

from experiments.tuebingen import GAP_LABEL

from .. import figures
from ..figures import to_svg
from .common import Figure, Table, conv_backprop_section, first_step_reaching, num, param_table, pct, run_of, section, slug


conv_backprop_section("tuebingen.2")   # derived in Tübingen 2; the check is printed once


@section("tuebingen.3")
def tuebingen_3(result, record) -> dict:
    t = result.tables["sizes"]
    def times(v) -> str:   # the stored "15 x 15" and "7*7*12" typeset: 15 × 15, 7 × 7 × 12, never split
        return re.sub(r"\s*[x*]\s*(?=[\d(])", "\u00a0×\u00a0", str(v)) if re.search(r"[\d)]\s*[x*]", str(v)) else str(v)

    def cell(v) -> str:   # counts with thousands separators; shapes as they are
        return num(int(v)) if str(v).isdigit() else times(v)

    table = Table(slug("tuebingen.3", "sizes"), "Tübingen 3: each answer by formula and by building the layer in Keras.",
                  ["part", "formula", "answer", "Keras"],
                  [[r.part, times(r.formula), cell(r.by_formula), cell(r.keras)] for r in t.itertuples()],
                  ["l", "l", "r", "r"], kind="checks")
    rows = {r.part[:3]: r for r in t.itertuples()}
    agree = all(str(r.by_formula) in str(r.keras) or str(r.keras).startswith(str(r.by_formula)) for r in t.itertuples())
    return {"table": table, "rows": rows, "ok": agree}


# ----------------------------------------------------------------------------- Tuebingen 1


@section("tuebingen.1")
def tuebingen_1(result, record) -> dict:
    h, errors, facts = result.tables["history"], result.tables["errors"], result.facts
    sch = result.tables["schedules"]
    chosen = sch.query("chosen")["schedule"].iloc[0]
    run = run_of(record, f"{GAP_LABEL}, {chosen}")
    trial = run_of(record, f"{GAP_LABEL}, {chosen}, validation")
    cfg = run["config"]
    final = h.iloc[-1]
    test_acc, train_acc = float(final["heldout_accuracy"]), float(final["train_accuracy"])
    minutes = facts["train_seconds"] / 60
    wall_minutes = facts["wall_seconds"] / 60
    tuebingen = figures.color_for(GAP_LABEL)
    fig = Figure(slug("tuebingen.1", "errors"),
                 to_svg(figures.error_curves({f"learning rate {chosen}": h}, tuple(cfg["lr_boundaries"]),
                                             {f"learning rate {chosen}": tuebingen})),
                 f"The sheet's network on MNIST: training error (dashed, fixed sample of "
                 f"{num(cfg['train_eval_size'] or run['train_examples'])}) and test error (solid, "
                 f"{'all 10,000' if cfg['test_size'] is None else num(cfg['test_size'])} test images) every "
                 f"{cfg['eval_every']} steps, log scale; dotted: the rate's drop.")
    curves = result.tables["curves"]
    hist = {f"learning rate {k}": g for k, g in curves.groupby("schedule", sort=False)}
    colors = {k: tuebingen if k == f"learning rate {chosen}" else figures.color_for("softmax regression") for k in hist}
    fig_choice = Figure(slug("tuebingen.1", "choice"),
                        to_svg(figures.error_curves(hist, tuple(cfg["lr_boundaries"]), colors, held_out="validation")),
                        f"Choosing the learning rate: both schedules trained on {num(trial['train_examples'])} "
                        f"training images, training error (dashed, fixed sample) and error on the "
                        f"{num(facts['validation'])} held-out validation images (solid), log scale.", kind="more")
    schedules = Table(slug("tuebingen.1", "schedules"),
                      f"Both learning-rate schedules trained on {num(trial['train_examples'])} training images, "
                      f"same network, seed and steps, scored on the {num(facts['validation'])} validation images "
                      f"held out from them; the schedule with the higher mean of the last {facts['choice_evals']} "
                      "validation accuracies is chosen.",
                      ["learning rate", "training-sample accuracy", "validation accuracy",
                       f"mean of last {facts['choice_evals']}", ""],
                      [[r.schedule, pct(r.train_accuracy), pct(r.validation_accuracy), pct(r.validation_last_mean),
                        "chosen" if r.chosen else ""] for r in sch.itertuples()],
                      ["l", "r", "r", "r", "l"], kind="more")
    other = sch.query("not chosen")
    rows = [[num(r.step), pct(r.train_error), pct(r.test_error), f"{r.learning_rate:g}", f"{float(r.wall_s):.1f}"]
            for r in errors.itertuples()]   # one unit down the column, not seconds turning into minutes
    table = Table(slug("tuebingen.1", "errors-table"), "Training and test error at every evaluation, as the sheet "
                  "asks the code to print them while it trains.",
                  ["step", "training error", "test error", "learning rate", "elapsed (s)"], rows, ["r", "r", "r", "r", "r"],
                  kind="more")
    params = param_table("tuebingen.1", "params", result.tables["params"],
                         "The network of the sheet, layer by layer ('valid' convolutions, stride 1).")
    return {"run": run, "cfg": cfg, "facts": facts, "test_acc": test_acc, "train_acc": train_acc,
            "meets_sheet": test_acc > facts["sheet_accuracy"], "minutes": minutes, "wall_minutes": wall_minutes,
            "speedup": facts["sheet_cpu_minutes"] / wall_minutes if wall_minutes else float("nan"),
            "fig": fig, "fig_choice": fig_choice, "table": table, "params": params, "schedules": schedules,
            "chosen": sch.query("chosen").iloc[0], "other": other.iloc[0] if len(other) else None,
            "trial_examples": trial["train_examples"],
            "sheet_step": first_step_reaching(h, "heldout_accuracy", facts["sheet_accuracy"])}
