"""HUJI 67103, Assignment 1, question 3: deep versus shallow, the smallest networks reaching 95%.

Every candidate trains with several seeds on the training images less a validation hold-out; a
candidate counts when every seed reaches the threshold on the hold-out, so the choice never looks at
the test set, which measures the chosen network once. Question 3.3 retrains the two chosen networks
on all training images, evaluated often enough to time their convergence over the same seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ex1 import data as data_mod
from ex1 import flops, models
from ex1.result import Result
from ex1.runner import Context, Run, RunSpec, with_seed
from ex1.train import TrainConfig

from .registry import question

SWEEP_STEPS = 10000   # per candidate: 9 epochs of 50-image batches, enough for these small nets
TARGET = 0.95         # the sheet's accuracy threshold
VALIDATION = 5000     # training images held out at random: the choice never looks at the test set

# (filters, kernel, stride, pool): one convolution, max pooling, one dense layer to the logits. Spaced so that
# consecutive sizes differ by at most about a quarter: whichever candidate is chosen, a slightly smaller one
# shows where the threshold is crossed.
SHALLOW = ((2, 5, 1, 6), (1, 5, 1, 4), (2, 7, 1, 5), (4, 5, 1, 8), (3, 5, 1, 6), (2, 7, 1, 4), (4, 5, 1, 6),
           (2, 5, 1, 4), (2, 5, 2, 2), (3, 7, 1, 4), (6, 5, 1, 6), (3, 5, 1, 4), (4, 7, 1, 4), (8, 5, 1, 6),
           (3, 5, 1, 3))
# (filters1, filters2, dense units): the original two conv + two dense structure, 5x5 kernels.
DEEP = ((1, 2, 8), (2, 2, 8), (2, 4, 4), (2, 3, 8), (2, 4, 8), (1, 4, 10), (3, 4, 8), (3, 5, 8), (3, 6, 8),
        (2, 4, 16), (4, 8, 8))


@dataclass(frozen=True)
class SweepConfig:
    family: str                       # "shallow" or "deep"
    candidates: tuple[tuple[int, ...], ...]
    train: TrainConfig
    seeds: tuple[int, ...]
    validation: int
    target: float = TARGET
    # A seed reaches the target when its validation accuracy lies this many binomial standard errors (of an accuracy
    # at the target, on `validation` images) above it: the target is then below the one-sided 95% lower bound,
    # so the validation sample's noise alone does not make a network count.
    margin_z: float = 1.645

    @property
    def level(self) -> float:
        """The validation accuracy every seed must reach."""
        return self.target + self.margin_z * float(np.sqrt(self.target * (1 - self.target) / self.validation))


def sweep_train_config(ctx: Context) -> TrainConfig:
    steps = ctx.profile.steps(SWEEP_STEPS)
    # Small networks take a larger step; the rate drops tenfold for the last quarter to settle.
    return ctx.train_config(SWEEP_STEPS, optimizer="adam", lr_boundaries=(int(0.75 * steps),),
                            lr_values=(1e-3, 1e-4), batch_size=50, seed=0)


def sweep_config(family: str, ctx: Context) -> SweepConfig:
    candidates = SHALLOW if family == "shallow" else DEEP
    return SweepConfig(family, ctx.profile.sweep(candidates), sweep_train_config(ctx),
                       seeds=tuple(range(ctx.profile.seeds)),
                       validation=VALIDATION if ctx.profile.max_steps is None else 1000)


def enough_for_hold_out(cfg, ctx: Context) -> str | None:
    sweep = cfg if isinstance(cfg, SweepConfig) else cfg.shallow
    n = len(ctx.dataset("mnist").y_train)
    if n <= sweep.validation + sweep.train.batch_size:
        return (f"holds out {sweep.validation:,} training images drawn at random to choose the network and trains on "
                f"the rest, but the training set has only {n:,}")
    return None


def candidate_label(family: str, c: tuple[int, ...]) -> str:
    if family == "shallow":
        f, k, s, p = c
        return f"shallow {f}x{k}x{k}/s{s}, pool {p}"
    f1, f2, h = c
    return f"deep {f1}-{f2}-{h}"


def candidate_run(family: str, c: tuple[int, ...], train: TrainConfig, validation: int | None) -> RunSpec:
    label = candidate_label(family, c)
    if family == "shallow":
        f, k, s, p = c
        return RunSpec("shallow_cnn", train, {"filters": f, "kernel_size": k, "strides": s, "pool": p},
                       label=label, validation=validation)
    f1, f2, h = c
    return RunSpec("huji_cnn", train, {"filters": (f1, f2), "dense_units": h, "dropout": 0.0},
                   label=label, validation=validation)


def sweep(cfg: SweepConfig, ctx: Context) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, list[Run]]]:
    """(one row per candidate, one row per candidate and seed, the runs of each candidate by label)."""
    # Every candidate and seed trains in one network (ex1.fused): the runs are many and tiny.
    specs = [replace(candidate_run(cfg.family, c, with_seed(cfg.train, s), cfg.validation), fused=True)
             for c in cfg.candidates for s in cfg.seeds]
    runs: dict[str, list[Run]] = {}
    for spec, run in zip(specs, ctx.train_all(specs)):
        runs.setdefault(spec.label, []).append(run)
    per_seed = pd.DataFrame([{"label": label, "seed": r.spec.config.seed, "params": int(r.params["params"].sum()),
                              "validation_accuracy": float(r.final["heldout_accuracy"]),
                              "train_accuracy": float(r.final["train_accuracy"]),
                              "train_seconds": float(r.record["train_seconds"])}
                             for label, rs in runs.items() for r in rs])
    return summary(per_seed, cfg.level), per_seed, runs


def summary(per_seed: pd.DataFrame, level: float) -> pd.DataFrame:
    """One row per candidate, smallest first: its seeds' validation accuracies summed up, whether it is on the
    frontier, and whether every seed reaches `level`."""
    g = per_seed.groupby("label", sort=False)
    table = pd.DataFrame({
        "params": g["params"].first(), "seeds": g["seed"].count(),
        "validation_mean": g["validation_accuracy"].mean(), "validation_std": g["validation_accuracy"].std(),
        "validation_min": g["validation_accuracy"].min(), "train_mean": g["train_accuracy"].mean(),
        "train_seconds": g["train_seconds"].mean()}).reset_index()
    table = table.sort_values(["params", "validation_mean"], ascending=[True, False]).reset_index(drop=True)
    # The Pareto frontier on the mean over seeds: no smaller network is at least as accurate.
    table["frontier"] = table["validation_mean"] >= table["validation_mean"].cummax()
    table["every_seed_reaches"] = table["validation_min"] >= level
    return table


def smallest_reaching(table: pd.DataFrame) -> pd.Series | None:
    hit = table[table["every_seed_reaches"]]
    return None if hit.empty else hit.iloc[0]


def bracket(table: pd.DataFrame, chosen: pd.Series) -> pd.Series | None:
    """The largest candidate smaller than the chosen one that misses the threshold on some seed."""
    below = table[(table["params"] < chosen["params"]) & ~table["every_seed_reaches"]]
    return None if below.empty else below.sort_values("params").iloc[-1]


def candidate_layers(runs: dict[str, list[Run]]) -> pd.DataFrame:
    """Every candidate layer by layer (output shape, parameters): the architectures the sweep trained."""
    return pd.concat([rs[0].params[["layer", "type", "output_shape", "params"]].assign(label=label)
                      for label, rs in runs.items()], ignore_index=True)


def test_accuracies(runs: list[Run], ctx: Context) -> pd.DataFrame:
    """Each seed of the chosen network on the test set, measured once, after the choice."""
    ds = ctx.dataset("mnist")
    x, y = data_mod.to_float(ds.x_test), ds.y_test
    rows = []
    for r in runs:
        hits = r.predict(x).argmax(axis=-1) == y
        rows.append({"seed": r.spec.config.seed, "validation_accuracy": float(r.final["heldout_accuracy"]),
                     "test_accuracy": float(hits.mean()), "test_images": len(y)})
    return pd.DataFrame(rows)


def sweep_result(cfg: SweepConfig, ctx: Context) -> Result:
    table, per_seed, runs = sweep(cfg, ctx)
    chosen = smallest_reaching(table)
    tables = {"sweep": table, "sweep_seeds": per_seed, "candidate_layers": candidate_layers(runs)}
    facts = {"target": cfg.target, "level": cfg.level, "margin_z": cfg.margin_z, "family": cfg.family, "chosen": None,
             "validation": cfg.validation, "seeds": len(cfg.seeds), "bracket": None}
    if chosen is not None:
        chosen_runs = runs[chosen["label"]]
        tables["chosen_history"] = chosen_runs[0].history
        tables["chosen_params"] = chosen_runs[0].params
        tables["chosen_test"] = test_accuracies(chosen_runs, ctx)
        facts["chosen"] = chosen["label"]
        miss = bracket(table, chosen)
        if miss is not None:
            facts["bracket"] = miss["label"]
    # The sheet read literally: the smallest candidate whose every seed is above the target itself, without the
    # margin. Where that is a smaller network than the rule's, its stored runs are scored on the test set too.
    literal = smallest_reaching(table.assign(every_seed_reaches=table["validation_min"] > cfg.target))
    facts["literal"] = None if literal is None else literal["label"]
    if literal is not None and (chosen is None or literal["label"] != chosen["label"]):
        tables["literal_test"] = test_accuracies(runs[literal["label"]], ctx)
    return Result(tables=tables, facts=facts)


@question("huji.3.1", "Shallow network: the smallest reaching 95%",
          config=lambda ctx: sweep_config("shallow", ctx), requires=enough_for_hold_out)
def shallow(cfg: SweepConfig, ctx: Context) -> Result:
    """3.1 Construct a shallow CNN consisting of a single convolutional layer, followed by a fully
    connected layer, such that it is able to achieve accuracy above 95% using the smallest number of
    free parameters. 3.1.1 How many parameters does your network have? (explain how you count them)
    3.1.2 Plot the loss function of the training of this network."""
    return sweep_result(cfg, ctx)


@question("huji.3.2", "Reduced deep network: the smallest reaching 95%",
          config=lambda ctx: sweep_config("deep", ctx), requires=enough_for_hold_out)
def reduced_deep(cfg: SweepConfig, ctx: Context) -> Result:
    """3.2 Reduce the number of parameters of the original deeper network as much as you can, while
    still being able to achieve 95% accuracy. 3.2.1 How many parameters does this network have?
    (explain how you count them) 3.2.2 Plot the training of this network."""
    return sweep_result(cfg, ctx)


@dataclass(frozen=True)
class SpeedConfig:
    shallow: SweepConfig
    deep: SweepConfig
    eval_every: int                  # steps between evaluations of the timed runs
    relative: float = 0.99           # converged: at 99% of the run's own final accuracy
    final_evaluations: int = 5       # the final accuracy is the mean of the last 5 evaluations
    profile_steps: int = 200         # steps per timed graph call of the step profile


def speed_config(ctx: Context) -> SpeedConfig:
    # The profile's steps per timed call: 200 in the full profile (a call of about half a second), 20 in the quick one.
    return SpeedConfig(sweep_config("shallow", ctx), sweep_config("deep", ctx),
                       eval_every=max(1, ctx.profile.eval_every // 5),
                       profile_steps=max(10, min(200, ctx.profile.steps(10_000) // 5)))


def convergence(h: pd.DataFrame, final_evaluations: int, levels: dict[str, float]) -> dict:
    """The run's final accuracy (mean of its last evaluations), and for each named level the first step,
    and seconds of training, at which the accuracy reaches it.

    Accuracies are smoothed over three evaluations first: single evaluations jitter by about 0.1 point
    on 10,000 test images, as much as the last gains being timed.
    """
    acc = h["heldout_accuracy"].rolling(3, center=True, min_periods=1).mean().to_numpy()
    out = {"final_accuracy": float(h["heldout_accuracy"].iloc[-final_evaluations:].mean())}
    for name, level in levels.items():
        level = level * out["final_accuracy"] if name == "own" else level
        i = next((i for i, a in enumerate(acc) if a >= level), None)
        out[f"{name}_step"] = None if i is None else int(h["step"].iloc[i])
        out[f"{name}_seconds"] = None if i is None else float(h["train_s"].iloc[i])
    return out


def _best_ms(fn, steps: int, repeats: int) -> float:
    """Milliseconds per step of fn (which runs `steps` steps in one graph call): the fastest of `repeats` calls
    after a first that traces it, since other work on the machine only ever adds time."""
    import time

    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return 1000 * best / steps


def step_profile(model, batch: int, steps: int = 200, repeats: int = 5) -> pd.DataFrame:
    """Where a training step's time goes: each layer's forward and backward pass timed alone on random inputs of its
    shape (the first layer without the gradient of its input, which training does not compute), the Adam update
    of all the weights, and the whole step (forward, loss, backward, update) in the run's precision. Milliseconds
    per step; they differ from machine to machine and from run to run, the split between layers much less."""
    import keras
    import tensorflow as tf

    rows = []
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    for i, layer in enumerate(layers):
        x = tf.cast(tf.random.uniform((batch, *layer.input.shape[1:])), layer.compute_dtype)

        @tf.function
        def alone(x, layer=layer, of_input=i > 0):
            acc = tf.constant(0.0)
            for _ in tf.range(steps):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = tf.reduce_sum(tf.cast(layer(x, training=True), tf.float32))
                grads = tape.gradient(y, ([x] if of_input else []) + layer.trainable_variables)
                acc += tf.add_n([tf.reduce_sum(tf.cast(g, tf.float32)) for g in grads])
            return acc

        rows.append({"part": layer.name, "kind": type(layer).__name__, "forward_macs": flops.layer_flops(layer) // 2,
                     "step_time_ms": _best_ms(lambda f=alone, x=x: f(x).numpy(), steps, repeats)})
    opt = keras.optimizers.Adam(1e-4)
    zeros = [tf.zeros_like(v) for v in model.trainable_variables]   # Adam with zero gradients moves no weight

    @tf.function
    def update():
        for _ in tf.range(steps):
            opt.apply_gradients(zip(zeros, model.trainable_variables))
        return opt.iterations

    rows.append({"part": f"Adam update ({len(zeros)} weight tensors)", "kind": "optimizer", "forward_macs": 0,
                 "step_time_ms": _best_ms(lambda: update().numpy(), steps, repeats)})
    whole_opt = keras.optimizers.Adam(1e-4)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((batch, *model.input.shape[1:]), dtype=np.float32))
    y = tf.constant(rng.integers(0, 10, batch))

    @tf.function
    def whole():
        for _ in tf.range(steps):
            with tf.GradientTape() as tape:
                logits = tf.cast(model(x, training=True), tf.float32)
                loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
            whole_opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return whole_opt.iterations

    rows.append({"part": "whole step", "kind": "step", "forward_macs": flops.forward_flops(model) // 2,
                 "step_time_ms": _best_ms(lambda: whole().numpy(), steps, repeats)})
    return pd.DataFrame(rows)


@question("huji.3.3", "Training speed: shallow versus deep", config=speed_config, requires=enough_for_hold_out)
def training_speed(cfg: SpeedConfig, ctx: Context) -> Result:
    """3.3 Compare the training speed (time to convergence) of the two networks and explain your
    findings."""
    timed: dict[str, list[Run]] = {}
    for family_cfg in (cfg.shallow, cfg.deep):
        table, _, _ = sweep(family_cfg, ctx)   # reused from the store: 3.1 and 3.2 trained them
        chosen = smallest_reaching(table)
        if chosen is None:
            continue
        c = next(c for c in family_cfg.candidates if candidate_label(family_cfg.family, c) == chosen["label"])
        train = replace(family_cfg.train, eval_every=min(cfg.eval_every, family_cfg.train.eval_every))
        timed[family_cfg.family] = [ctx.train(candidate_run(family_cfg.family, c, with_seed(train, s), None))
                                    for s in family_cfg.seeds]
    if len(timed) < 2:
        return Result(tables={"speed": pd.DataFrame(), "curves": pd.DataFrame()},
                      facts={"relative": cfg.relative, "common": None, "missing": sorted({"shallow", "deep"} - set(timed))})
    finals = {fam: np.mean([convergence(r.history, cfg.final_evaluations, {})["final_accuracy"] for r in rs])
              for fam, rs in timed.items()}
    # One level both networks clear with a margin: 99% of the lower of the two final accuracies.
    common = cfg.relative * min(finals.values())
    # multiply-adds of one image's forward pass: the arithmetic a step's time can be set against
    macs = {fam: flops.forward_flops(rs[0].model()) // 2 for fam, rs in timed.items()}
    # Built afresh (the whole step trains it), in the precision the runs trained in.
    profile = pd.concat([step_profile(models.create_model(rs[0].spec.model, **rs[0].spec.build_kwargs(),
                                                          **({} if rs[0].spec.config.precision == "float32" else
                                                             {"dtype": rs[0].spec.config.precision})),
                                      rs[0].spec.config.batch_size, steps=cfg.profile_steps).assign(family=fam)
                         for fam, rs in timed.items()], ignore_index=True)
    rows, curves = [], []
    for fam, rs in timed.items():
        for r in rs:
            rows.append({"family": fam, "label": r.spec.label, "seed": r.spec.config.seed,
                         "params": int(r.params["params"].sum()), "forward_macs": macs[fam],
                         "images_per_second": float(r.record["images_per_second"]),
                         **convergence(r.history, cfg.final_evaluations, {"own": cfg.relative, "common": common})})
            curves.append(r.history.assign(label=r.spec.label, family=fam, seed=r.spec.config.seed))
    return Result(tables={"speed": pd.DataFrame(rows), "curves": pd.concat(curves, ignore_index=True),
                          "profile": profile},
                  facts={"relative": cfg.relative, "common": common, "final_evaluations": cfg.final_evaluations,
                         "eval_every": cfg.eval_every, "seeds": len(cfg.shallow.seeds), "missing": []})
