"""HUJI 67103, Assignment 1, question 4: overfitting on 250 examples; smaller networks and dropout.

Every variant (narrower networks, the first dense layer alone shrunk, narrower convolutions alone, dropout) trains
on the same 250 images for one common length and is read at its last step: every comparison reads its runs at the
same step. Its final weights are scored on validation images drawn from the training images outside the 250, which
choose the best setting; the test set, evaluated during training for the curves, reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ex1.data import stratified_subset, to_float
from ex1.result import Result
from ex1.runner import Context, RunSpec, hold_out
from ex1.train import TrainConfig

from .huji import SHEET_STEPS
from .registry import question

CURVE_STEPS = 1000           # the 250-example curve: 200 epochs, training accuracy saturates long before
CURVE_EVAL_EVERY = 50        # 21 evaluations (every 10 epochs) instead of 3
# One length for every variant: 600 epochs of 250 examples. The narrowest network needs about 2,500 steps to fit
# its examples and keep probability 0.2 still underfits at 1,000; the section reports how much each variant's
# training loss still moves over the last FLAT_WINDOW steps. Every variant with full-size convolutions costs as
# much per step as the network on all 60,000 images: the length and the sweeps are what the profile can afford.
VARIANT_STEPS = 3000
VARIANT_EVAL_EVERY = 500
FLAT_WINDOW = 1000
VALIDATION = 5000            # drawn at random from the training images other than the 250
PER_CLASS = 25               # 250 unique examples, 25 of each digit
WIDTHS = (1.0, 0.5, 0.25, 0.125, 0.0625)    # multiplies filters (32, 64) and dense units 1024
FC1_UNITS = (256, 64, 16)                   # the first dense layer alone: it holds 94% of the parameters
CONV_WIDTHS = (0.5, 0.25)                   # the convolutions alone narrower, fc1 kept at 1,024 units
# Dropout after every hidden layer; Keras rate = 1 - keep. Keep 1 is the full-size network without dropout: the
# width-1 runs themselves, the baseline every variant is compared with.
KEEP_PROBS = (1.0, 0.75, 0.5, 0.35, 0.2)


@dataclass(frozen=True)
class OverfitConfig:
    full: TrainConfig            # the complete training set, the sheet's 20,000 steps
    curve: TrainConfig           # the full-size network's curve on 250 examples
    variants: TrainConfig        # every variant: one length, read at its last step
    seeds: tuple[int, ...]
    validation: int
    per_class: int = PER_CLASS
    subset_seed: int = 0
    widths: tuple[float, ...] = WIDTHS
    fc1_units: tuple[int, ...] = FC1_UNITS
    conv_widths: tuple[float, ...] = CONV_WIDTHS
    keep_probs: tuple[float, ...] = KEEP_PROBS
    flat_window: int = FLAT_WINDOW


def overfit_config(ctx: Context) -> OverfitConfig:
    recipe = {"optimizer": "adam", "learning_rate": 1e-4, "batch_size": 50}   # question 1's, dropout off
    curve = ctx.train_config(CURVE_STEPS, seed=0, **recipe)
    variants = ctx.train_config(VARIANT_STEPS, seed=0, **recipe)
    quick = ctx.profile.max_steps is not None
    return OverfitConfig(full=ctx.train_config(SHEET_STEPS, seed=0, **recipe),
                         curve=replace(curve, eval_every=min(CURVE_EVAL_EVERY, curve.eval_every)),
                         variants=replace(variants, eval_every=min(VARIANT_EVAL_EVERY, variants.eval_every)),
                         seeds=tuple(range(ctx.profile.seeds)), validation=1000 if quick else VALIDATION,
                         widths=ctx.profile.sweep(WIDTHS), fc1_units=ctx.profile.sweep(FC1_UNITS),
                         conv_widths=CONV_WIDTHS[:1] if quick else CONV_WIDTHS,
                         keep_probs=ctx.profile.sweep(KEEP_PROBS), flat_window=min(FLAT_WINDOW, variants.steps // 2))


def width_kwargs(w: float) -> dict:
    return {"filters": (max(1, round(32 * w)), max(1, round(64 * w))), "dense_units": max(1, round(1024 * w)),
            "dropout": 0.0}


def variants(cfg: OverfitConfig) -> list[tuple[str, float, dict]]:
    """(experiment, setting, model arguments) of every variant; the full-size network once, as width 1."""
    out = [("width", w, width_kwargs(w)) for w in cfg.widths]
    out += [("fc1", u, {"dense_units": u, "dropout": 0.0}) for u in cfg.fc1_units]
    out += [("conv", w, {**width_kwargs(w), "dense_units": 1024}) for w in cfg.conv_widths]
    out += [("dropout", k, {"dropout": round(1 - k, 6), "dropout_after": "hidden"}) for k in cfg.keep_probs if k < 1]
    return out


def variant_name(experiment: str, setting: float) -> str:
    return {"width": f"width {setting:g}", "fc1": f"fc1 {int(setting)} units", "conv": f"convolutions {setting:g}",
            "dropout": f"keep {setting:g}"}[experiment]


def small_run(cfg: OverfitConfig, train: TrainConfig, seed: int, label: str, **model_kwargs) -> RunSpec:
    return RunSpec("huji_cnn", replace(train, seed=seed), model_kwargs, per_class=cfg.per_class,
                   subset_seed=cfg.subset_seed, label=label)


def validation_images(cfg: OverfitConfig, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
    """cfg.validation training images drawn at random from those outside the 250 the variants train on."""
    ds = ctx.dataset("mnist")
    rest = np.setdiff1d(np.arange(len(ds.y_train)), stratified_subset(ds.y_train, cfg.per_class, cfg.subset_seed))
    *_, x, y = hold_out(ds.x_train[rest], ds.y_train[rest], cfg.validation)
    return to_float(x), y


def with_ratio(h: pd.DataFrame) -> pd.DataFrame:
    """test/train accuracy at each evaluation after the first: at step 0 both are chance and their ratio means nothing."""
    return h.assign(ratio=(h["heldout_accuracy"] / h["train_accuracy"]).where(h["step"] > 0))


def enough_per_class(cfg: OverfitConfig, ctx: Context) -> str | None:
    counts = np.bincount(ctx.dataset("mnist").y_train, minlength=10)
    if counts.min() < cfg.per_class:
        return (f"draws {cfg.per_class} training images of every digit ({10 * cfg.per_class} in all), but the "
                f"training set has only {counts.min()} of digit {int(counts.argmin())}")
    if len(counts) and counts.sum() <= 10 * cfg.per_class + cfg.validation:
        return (f"holds out {cfg.validation:,} validation images besides its {10 * cfg.per_class} training images, "
                f"but the training set has only {int(counts.sum()):,}")
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
    base = ctx.train(small_run(cfg, cfg.curve, cfg.seeds[0], "250 examples", dropout=0.0))
    curves = pd.concat([with_ratio(full.history).assign(data="all 60,000 examples"),
                        with_ratio(base.history).assign(data="250 examples")])
    # Every variant of one seed shares its data order: they train packed (ex1.packed).
    grid = [(e, s, seed, kw) for e, s, kw in variants(cfg) for seed in cfg.seeds]
    tested = ctx.train_all([small_run(cfg, cfg.variants, seed, f"{variant_name(e, s)}, seed {seed}", **kw)
                            for e, s, seed, kw in grid])
    x_val, y_val = validation_images(cfg, ctx)
    rows, layers = [], []
    for (experiment, setting, seed, _), run in zip(grid, tested):
        val = float((run.predict(x_val).argmax(-1) == y_val).mean())
        if seed == cfg.seeds[0] and experiment != "dropout":
            layers.append(run.params.assign(network=variant_name(experiment, setting)))
        rows.append({"experiment": experiment, "setting": setting, "seed": seed,
                     "params": int(run.params["params"].sum()), **read(run, val, cfg.flat_window)})
    per_seed = pd.DataFrame(rows)
    layers = pd.concat(layers, ignore_index=True)
    summary = (per_seed.groupby(["experiment", "setting"], sort=False)
               .agg(params=("params", "first"), n=("seed", "count"),
                    validation_mean=("validation_accuracy", "mean"), validation_std=("validation_accuracy", "std"),
                    test_mean=("test_accuracy", "mean"), test_std=("test_accuracy", "std"),
                    train_mean=("train_accuracy", "mean"),
                    ratio_mean=("ratio", "mean"), ratio_std=("ratio", "std"),
                    loss_mean=("train_loss", "mean"), loss_before_mean=("train_loss_before", "mean"),
                    read_step=("read_step", "max"), read_step_min=("read_step", "min"))
               .reset_index())
    return Result(tables={"curves": curves, "per_seed": per_seed, "summary": summary,
                          "layers": layers[["network", "layer", "type", "output_shape", "params"]]},
                  facts={"per_class": cfg.per_class, "curve_steps": cfg.curve.steps, "full_steps": cfg.full.steps,
                         "seeds": list(cfg.seeds), "variant_steps": cfg.variants.steps,
                         "variant_eval_every": cfg.variants.eval_every, "validation": cfg.validation,
                         "flat_window": cfg.flat_window})


def read(run, validation_accuracy: float, window: int) -> dict:
    """One variant and seed at its last step: test and training accuracy, the final weights' validation accuracy,
    and the training loss then and `window` steps before, to show whether it has flattened."""
    f, h = run.final, run.history
    before = h[h["step"] <= f["step"] - window]
    return {"train_accuracy": float(f["train_accuracy"]), "test_accuracy": float(f["heldout_accuracy"]),
            "validation_accuracy": validation_accuracy,
            "ratio": float(f["heldout_accuracy"] / f["train_accuracy"]) if f["train_accuracy"] else np.nan,
            "train_loss": float(f["train_loss"]),
            "train_loss_before": float(before["train_loss"].iloc[-1]) if len(before) else np.nan,
            "train_seconds": float(run.record["train_seconds"]), "read_step": int(f["step"])}
