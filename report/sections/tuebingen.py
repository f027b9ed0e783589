"""Report sections: Tübingen, Assignment 10."""

from __future__ import annotations

from experiments.tuebingen import GAP_LABEL

from .. import figures
from ..figures import to_svg
from .common import Figure, Table, conv_backprop_section, first_step_reaching, num, param_table, pct, run_of, secs, section, slug


conv_backprop_section("tuebingen.2")   # derived in Tübingen 2; the check is printed once


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


# ----------------------------------------------------------------------------- Tuebingen 1


@section("tuebingen.1")
def tuebingen_1(result, record) -> dict:
    h, errors, facts = result.tables["history"], result.tables["errors"], result.facts
    reported = result.tables["schedules"].query("reported")["schedule"].iloc[0]
    run = run_of(record, f"{GAP_LABEL}, {reported}")
    cfg = run["config"]
    final = h.iloc[-1]
    test_acc, train_acc = float(final["test_accuracy"]), float(final["train_accuracy"])
    minutes = facts["train_seconds"] / 60
    wall_minutes = facts["wall_seconds"] / 60
    curves = result.tables["curves"]
    hist = {f"learning rate {k}": g for k, g in curves.groupby("schedule", sort=False)}
    # The reported schedule in the Tuebingen colour, any earlier one in grey.
    colors = {k: figures.color_for(GAP_LABEL if k == f"learning rate {reported}" else "softmax regression")
              for i, k in enumerate(hist)}
    fig = Figure(slug("tuebingen.1", "errors"), to_svg(figures.error_curves(hist, tuple(cfg["lr_boundaries"]), colors)),
                 f"The global-average-pooling network on MNIST: training error (dashed, fixed sample of {num(cfg['train_eval_size'] or run['train_examples'])} "
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
                      ["l", "r", "r", "r", "r", "l"], kind="more")
    first = sch.iloc[0]
    rows = [[num(r.step), pct(r.train_error), pct(r.test_error), f"{r.learning_rate:g}", secs(r.wall_s)]
            for r in errors.itertuples()]
    table = Table(slug("tuebingen.1", "errors-table"), "Training and test error at every evaluation, as the sheet "
                  "asks the code to print them (the same lines appear in the log).",
                  ["step", "training error", "test error", "learning rate", "elapsed"], rows, ["r", "r", "r", "r", "r"],
                  kind="more")
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
