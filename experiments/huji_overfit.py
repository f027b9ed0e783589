"""HUJI 67103, Assignment 1, question 4: overfitting on 250 examples; smaller networks and dropout."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ex1.result import Result
from ex1.runner import Context, RunSpec
from ex1.train import TrainConfig

from .huji import SHEET_STEPS
from .registry import question

SMALL_STEPS = 1000           # 200 epochs of 250 examples: training accuracy saturates long before
CURVE_EVAL_EVERY = 50        # the 250-example curve: 21 evaluations (every 10 epochs) instead of 3
# The narrower networks fit 250 examples more slowly: each trains until its training accuracy reaches FIT, read
# at the first evaluation that does (every WIDTH_EVAL_EVERY steps), or for at most WIDTH_CAP_STEPS.
FIT = 0.99
WIDTH_CAP_STEPS = 5000       # 1,000 epochs of 250 examples
WIDTH_EVAL_EVERY = 250
FC1_UNITS = 64               # the first dense layer alone shrunk: it holds 94% of the network's parameters
PER_CLASS = 25               # 250 unique examples, 25 of each digit
WIDTHS = (1.0, 0.5, 0.25, 0.125, 0.0625)    # multiplies filters (32, 64) and dense units 1024
# Dropout after every hidden layer; Keras rate = 1 - keep. Keep 1 is the same network without dropout, trained and
# read exactly as the others (same steps, the last evaluation): the baseline the dropout runs are compared with.
KEEP_PROBS = (1.0, 0.9, 0.75, 0.5, 0.35, 0.2)


@dataclass(frozen=True)
class OverfitConfig:
    full: TrainConfig            # the complete training set, the sheet's 20,000 steps
    small: TrainConfig           # 250 examples
    sized: TrainConfig           # the size variants: up to the cap, evaluated often enough to stop at FIT
    seeds: tuple[int, ...]
    fit: float = FIT
    fc1_units: int = FC1_UNITS
    per_class: int = PER_CLASS
    subset_seed: int = 0
    widths: tuple[float, ...] = WIDTHS
    keep_probs: tuple[float, ...] = KEEP_PROBS


def overfit_config(ctx: Context) -> OverfitConfig:
    recipe = {"optimizer": "adam", "learning_rate": 1e-4, "batch_size": 50}   # question 1's, dropout off
    sized = ctx.train_config(WIDTH_CAP_STEPS, seed=0, **recipe)
    return OverfitConfig(full=ctx.train_config(SHEET_STEPS, seed=0, **recipe),
                         small=ctx.train_config(SMALL_STEPS, seed=0, **recipe),
                         sized=replace(sized, eval_every=min(WIDTH_EVAL_EVERY, sized.eval_every)),
                         seeds=tuple(range(ctx.profile.seeds)), widths=ctx.profile.sweep(WIDTHS),
                         keep_probs=ctx.profile.sweep(KEEP_PROBS))


def width_kwargs(w: float) -> dict:
    return {"filters": (max(1, round(32 * w)), max(1, round(64 * w))), "dense_units": max(1, round(1024 * w)),
            "dropout": 0.0}


def small_run(cfg: OverfitConfig, seed: int, label: str, train: TrainConfig | None = None, **model_kwargs) -> RunSpec:
    return RunSpec("huji_cnn", replace(train or cfg.small, seed=seed), model_kwargs, per_class=cfg.per_class,
                   subset_seed=cfg.subset_seed, label=label)


def with_ratio(h: pd.DataFrame) -> pd.DataFrame:
    """test/train accuracy at each evaluation after the first: at step 0 both are chance and their ratio means nothing."""
    return h.assign(ratio=(h["test_accuracy"] / h["train_accuracy"]).where(h["step"] > 0))


def enough_per_class(cfg: OverfitConfig, ctx: Context) -> str | None:
    counts = np.bincount(ctx.dataset("mnist").y_train, minlength=10)
    if counts.min() < cfg.per_class:
        return (f"draws {cfg.per_class} training images of every digit ({10 * cfg.per_class} in all), but the "
                f"training set has only {counts.min()} of digit {int(counts.argmin())}")
    return None


@question("huji.4", "Overfitting: 250 examples, smaller networks, dropout", config=overfit_config,
          requires=enough_per_class)
def overfitting(cfg: OverfitConfig, ctx: Context) -> Result:
    """4.1 Train the original network (without dropout, i.e. the rate parameter set to 0) over the
    complete set of the examples as well as a reduced set of only 250 examples. Plot the training and
    testing accuracies as well as their ratio. In order to reduce the overfitting of the reduced
    training dataset, reduce the network's size (fewer parameters) until a higher ratio and test
    accuracy is obtained. Report the reduction and size and gain in performance in this experiment.
    As an alternative insert dropout layers to the outputs of all the hidden layers. Report which
    keep-probability resulted in the best ratio/test accuracy."""
    full = ctx.train(RunSpec("huji_cnn", cfg.full, {"dropout": 0.0}, label="all 60,000 examples"))
    base_spec = small_run(cfg, cfg.seeds[0], "250 examples", dropout=0.0)
    base = ctx.train(replace(base_spec, config=replace(base_spec.config,
                                                       eval_every=min(CURVE_EVAL_EVERY, base_spec.config.eval_every))))
    curves = pd.concat([with_ratio(full.history).assign(data="all 60,000 examples"),
                        with_ratio(base.history).assign(data="250 examples")])
    # Width, fc1 and keep variants of one seed share their data order: they train packed (ex1.packed).
    sized = [("size", w, seed, small_run(cfg, seed, f"width {w:g}, seed {seed}", cfg.sized, **width_kwargs(w)))
             for w in cfg.widths for seed in cfg.seeds]
    sized += [("fc1", cfg.fc1_units, seed, small_run(cfg, seed, f"fc1 {cfg.fc1_units} units, seed {seed}", cfg.sized,
                                                      dense_units=cfg.fc1_units, dropout=0.0)) for seed in cfg.seeds]
    kept = [("dropout", keep, seed, small_run(cfg, seed, f"keep {keep:g}, seed {seed}", dropout=round(1 - keep, 6),
                                              dropout_after="hidden")) for keep in cfg.keep_probs for seed in cfg.seeds]
    rows, layers = [], []
    for (experiment, setting, seed, _), run in zip(sized, ctx.train_all([spec for *_, spec in sized])):
        if seed == cfg.seeds[0]:
            layers.append(run.params.assign(width=setting if experiment == "size" else f"fc1 {setting}"))
        rows.append({"experiment": experiment, "setting": setting, "seed": seed,
                     "params": int(run.params["params"].sum()), **_fitted(run, cfg.fit)})
    for (experiment, setting, seed, _), run in zip(kept, ctx.train_all([spec for *_, spec in kept])):
        rows.append({"experiment": experiment, "setting": setting, "seed": seed,
                     "params": int(run.params["params"].sum()), **_final(run)})
    per_seed = pd.DataFrame(rows)
    layers = pd.concat(layers, ignore_index=True)
    summary = (per_seed.groupby(["experiment", "setting"], sort=False)
               .agg(params=("params", "first"), n=("seed", "count"),
                    test_mean=("test_accuracy", "mean"), test_std=("test_accuracy", "std"),
                    train_mean=("train_accuracy", "mean"),
                    ratio_mean=("ratio", "mean"), ratio_std=("ratio", "std"),
                    stop_mean=("stop_step", "mean"), fitted=("fitted", "sum"))
               .reset_index())
    return Result(tables={"curves": curves, "per_seed": per_seed, "summary": summary,
                          "width_layers": layers[["width", "layer", "type", "output_shape", "params"]]},
                  facts={"per_class": cfg.per_class, "small_steps": cfg.small.steps, "full_steps": cfg.full.steps,
                         "seeds": list(cfg.seeds), "fit": cfg.fit, "size_cap_steps": cfg.sized.steps,
                         "size_eval_every": cfg.sized.eval_every, "fc1_units": cfg.fc1_units})


def _row(run, f: pd.Series) -> dict:
    return {"train_accuracy": float(f["train_accuracy"]), "test_accuracy": float(f["test_accuracy"]),
            "ratio": float(f["test_accuracy"] / f["train_accuracy"]) if f["train_accuracy"] else np.nan,
            "train_seconds": float(run.record["train_seconds"]), "stop_step": int(f["step"])}


def _final(run) -> dict:
    return {**_row(run, run.final), "fitted": False}


def _fitted(run, fit: float) -> dict:
    """The run as if stopped at its first evaluation with training accuracy >= fit (early stopping on the
    training set, which the test set never informs), or at its last step when it never gets there."""
    h = run.history
    hit = h[(h["step"] > 0) & (h["train_accuracy"] >= fit)]
    return {**_row(run, hit.iloc[0] if len(hit) else run.final), "fitted": bool(len(hit))}
