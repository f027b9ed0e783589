"""HUJI 67103, Assignment 1, question 3: deep versus shallow, the smallest networks reaching 95%."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ex1.result import Result
from ex1.runner import Context, Run, RunSpec
from ex1.train import TrainConfig

from .registry import question

SWEEP_STEPS = 10000   # per candidate: 8.3 epochs of 50-image batches, enough for these small nets
TARGET = 0.95         # the sheet's accuracy threshold

# (filters, kernel, stride, pool): one convolution, max pooling, one dense layer to the logits.
SHALLOW = ((1, 5, 1, 4), (2, 5, 1, 6), (2, 7, 1, 4), (2, 5, 1, 4), (4, 5, 1, 6), (3, 7, 1, 4),
           (2, 5, 2, 2), (6, 5, 1, 6), (3, 5, 1, 4), (4, 7, 1, 4), (8, 5, 1, 6), (3, 5, 1, 3))
# (filters1, filters2, dense units): the original two conv + two dense structure, 5x5 kernels.
DEEP = ((1, 2, 8), (2, 2, 8), (2, 4, 4), (2, 3, 8), (2, 4, 8), (1, 4, 10), (3, 4, 8), (3, 6, 8),
        (2, 4, 16), (4, 8, 8))


@dataclass(frozen=True)
class SweepConfig:
    family: str                       # "shallow" or "deep"
    candidates: tuple[tuple[int, ...], ...]
    train: TrainConfig
    target: float = TARGET


def sweep_train_config(ctx: Context) -> TrainConfig:
    steps = ctx.profile.steps(SWEEP_STEPS)
    # Small networks take a larger step; the rate drops tenfold for the last quarter to settle.
    return ctx.train_config(SWEEP_STEPS, optimizer="adam", lr_boundaries=(int(0.75 * steps),),
                            lr_values=(1e-3, 1e-4), batch_size=50, seed=0)


def candidate_run(family: str, c: tuple[int, ...], train: TrainConfig) -> RunSpec:
    if family == "shallow":
        f, k, s, p = c
        return RunSpec("shallow_cnn", train, {"filters": f, "kernel_size": k, "strides": s, "pool": p},
                       label=f"shallow {f}x{k}x{k}/s{s}, pool {p}")
    f1, f2, h = c
    return RunSpec("huji_cnn", train, {"filters": (f1, f2), "dense_units": h, "dropout": 0.0},
                   label=f"deep {f1}-{f2}-{h}")


def sweep(cfg: SweepConfig, ctx: Context) -> tuple[pd.DataFrame, list[Run]]:
    runs = [ctx.train(candidate_run(cfg.family, c, cfg.train)) for c in cfg.candidates]
    rows = []
    for c, run in zip(cfg.candidates, runs):
        rows.append({"label": run.spec.label, **{k: str(v) for k, v in run.spec.model_kwargs.items()},
                     "params": int(run.params["params"].sum()),
                     "test_accuracy": float(run.final["test_accuracy"]),
                     "train_accuracy": float(run.final["train_accuracy"]),
                     "train_seconds": float(run.record["train_seconds"])})
    table = pd.DataFrame(rows).sort_values(["params", "test_accuracy"], ascending=[True, False])
    best = table["test_accuracy"].cummax()
    # The Pareto frontier: no smaller network is at least as accurate.
    table["frontier"] = table["test_accuracy"] >= best
    table["reaches_target"] = table["test_accuracy"] >= cfg.target
    return table.reset_index(drop=True), runs


def candidate_layers(runs: list[Run]) -> pd.DataFrame:
    """Every candidate layer by layer (output shape, parameters): the architectures the sweep trained."""
    return pd.concat([r.params[["layer", "type", "output_shape", "params"]].assign(label=r.spec.label) for r in runs],
                     ignore_index=True)


def smallest_reaching(table: pd.DataFrame, runs: list[Run]) -> Run | None:
    hit = table[table["reaches_target"]]
    if hit.empty:
        return None
    label = hit.iloc[0]["label"]
    return next(r for r in runs if r.spec.label == label)


def sweep_result(cfg: SweepConfig, ctx: Context) -> Result:
    table, runs = sweep(cfg, ctx)
    chosen = smallest_reaching(table, runs)
    tables = {"sweep": table, "candidate_layers": candidate_layers(runs)}
    facts = {"target": cfg.target, "family": cfg.family, "chosen": None}
    if chosen is not None:
        tables["chosen_history"] = chosen.history
        tables["chosen_params"] = chosen.params
        facts["chosen"] = chosen.spec.label
    return Result(tables=tables, facts=facts)


@question("huji.3.1", "Shallow network: the smallest reaching 95%",
          config=lambda ctx: SweepConfig("shallow", ctx.profile.sweep(SHALLOW), sweep_train_config(ctx)))
def shallow(cfg: SweepConfig, ctx: Context) -> Result:
    """3.1 Construct a shallow CNN consisting of a single convolutional layer, followed by a fully
    connected layer, such that it is able to achieve accuracy above 95% using the smallest number of
    free parameters. 3.1.1 How many parameters does your network have? (explain how you count them)
    3.1.2 Plot the loss function of the training of this network."""
    return sweep_result(cfg, ctx)


@question("huji.3.2", "Reduced deep network: the smallest reaching 95%",
          config=lambda ctx: SweepConfig("deep", ctx.profile.sweep(DEEP), sweep_train_config(ctx)))
def reduced_deep(cfg: SweepConfig, ctx: Context) -> Result:
    """3.2 Reduce the number of parameters of the original deeper network as much as you can, while
    still being able to achieve 95% accuracy. 3.2.1 How many parameters does this network have?
    (explain how you count them) 3.2.2 Plot the training of this network."""
    return sweep_result(cfg, ctx)


@dataclass(frozen=True)
class SpeedConfig:
    shallow: SweepConfig
    deep: SweepConfig
    level: float = TARGET            # convergence, part 1: first step at this test accuracy
    plateau_gain: float = 0.001      # part 2: gains below 0.1 point per window from then on
    plateau_window: int = 1000       # steps per window (scaled down in the quick profile)


def speed_config(ctx: Context) -> SpeedConfig:
    train = sweep_train_config(ctx)
    return SpeedConfig(SweepConfig("shallow", ctx.profile.sweep(SHALLOW), train),
                       SweepConfig("deep", ctx.profile.sweep(DEEP), train),
                       plateau_window=2 * train.eval_every)


def convergence(h: pd.DataFrame, level: float, gain: float, window: int) -> dict:
    """First step at `level`, and the first step after which every `window` steps add < `gain`.

    Accuracies are smoothed over three evaluations first: single evaluations jitter by about
    0.1 point on 10,000 test images, as much as the gain being measured.
    """
    acc = h["test_accuracy"].rolling(3, center=True, min_periods=1).mean().to_numpy()
    steps = h["step"].to_numpy()
    reach = next((i for i, a in enumerate(h["test_accuracy"]) if a >= level), None)
    per = max(1, int(round(window / max(1, steps[1] - steps[0])))) if len(steps) > 1 else 1
    gains = [acc[i + per] - acc[i] for i in range(len(acc) - per)]
    plateau = next((i for i in range(len(gains)) if all(g < gain for g in gains[i:])), None)

    def at(i):
        return (None, None) if i is None else (int(steps[i]), float(h["train_s"].iloc[i]))

    (rs, rt), (ps, pt) = at(reach), at(plateau)
    return {"reach_step": rs, "reach_seconds": rt, "plateau_step": ps, "plateau_seconds": pt,
            "final_accuracy": float(h["test_accuracy"].iloc[-1])}


@question("huji.3.3", "Training speed: shallow versus deep", config=speed_config)
def training_speed(cfg: SpeedConfig, ctx: Context) -> Result:
    """3.3 Compare the training speed (time to convergence) of the two networks and explain your
    findings."""
    rows, curves = [], []
    for family_cfg in (cfg.shallow, cfg.deep):
        table, runs = sweep(family_cfg, ctx)   # reused from the store: 3.1 and 3.2 trained them
        chosen = smallest_reaching(table, runs)
        if chosen is None:
            continue
        c = convergence(chosen.history, cfg.level, cfg.plateau_gain, cfg.plateau_window)
        rows.append({"family": family_cfg.family, "label": chosen.spec.label,
                     "params": int(chosen.params["params"].sum()),
                     "images_per_second": float(chosen.record["images_per_second"]), **c})
        curves.append(chosen.history.assign(label=chosen.spec.label, family=family_cfg.family))
    return Result(tables={"speed": pd.DataFrame(rows),
                          "curves": pd.concat(curves) if curves else pd.DataFrame()},
                  facts={"level": cfg.level, "plateau_gain": cfg.plateau_gain,
                         "plateau_window": cfg.plateau_window})
