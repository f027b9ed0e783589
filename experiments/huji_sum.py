"""HUJI 67103, Assignment 1, question 5: the sum of two digits, as one class or as two labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ex1.data import make_pairs, to_float
from ex1.stats import right_wrong
from ex1.result import Result
from ex1.runner import Context, PairSpec, Run, RunSpec, with_seed
from ex1.train import TrainConfig

from .registry import question

SUM_STEPS = 6000   # 5 epochs of 60,000 pairs in batches of 50
# Held out of training: every (a, b) with a + b = 9 and a <= 4. The sum 9 is still seen, from (5, 4) to (9, 0).
HELD_OUT = tuple((a, 9 - a) for a in range(5))
SEEN = "combinations seen in training"       # the evaluation's two splits of the test pairs
HELD = "held-out combinations"


@dataclass(frozen=True)
class SumConfig:
    train: TrainConfig
    pairs: PairSpec = PairSpec(train_pairs=60000, test_pairs=10000, seed=0, exclude=HELD_OUT)
    held_out_test_pairs: int = 2000   # test pairs made only of the held-out combinations
    # 5.3 trains both models with these seeds as well: a comparison over seeds includes training noise. The first
    # is the seed of the answers of 5.1 and 5.2 (train.seed).
    seeds: tuple[int, ...] = (0,)


def sum_config(ctx: Context) -> SumConfig:
    steps = ctx.profile.steps(SUM_STEPS)
    return SumConfig(train=ctx.train_config(SUM_STEPS, optimizer="adam", lr_boundaries=(int(0.75 * steps),),
                                            lr_values=(1e-3, 1e-4), batch_size=50, seed=0),
                     seeds=tuple(range(ctx.profile.seeds)))


def _seeded(cfg: SumConfig, label: str, seed: int | None) -> tuple[TrainConfig, str]:
    if seed is None or seed == cfg.train.seed:
        return cfg.train, label
    return with_seed(cfg.train, seed), f"{label}, seed {seed}"


def sum_run(cfg: SumConfig, seed: int | None = None) -> RunSpec:
    train, label = _seeded(cfg, "sum classifier", seed)
    return RunSpec("pair_cnn", train, {"head": "sum"}, label=label,
                   pairs=PairSpec(**{**cfg.pairs.__dict__, "target": "sum"}))


def digits_run(cfg: SumConfig, seed: int | None = None) -> RunSpec:
    train, label = _seeded(cfg, "two-digit network", seed)
    return RunSpec("pair_cnn", train, {"head": "digits"}, label=label,
                   pairs=PairSpec(**{**cfg.pairs.__dict__, "target": "digits"}))


def predicted_sums(run: Run, x: np.ndarray) -> np.ndarray:
    out = run.predict(x)
    if out.ndim == 3:                       # two heads: the sum of the two predicted digits
        return out.argmax(-1).sum(axis=1), out.argmax(-1)
    return out.argmax(-1), None


def evaluation(cfg: SumConfig, ctx: Context, runs: dict[str, Run]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sum accuracy of each model on test pairs of the combinations seen in training (the same pairs the
    training curves are measured on) and, apart, on test pairs of the held-out combinations only; the
    two-digit network's per-digit and both-digits accuracy. Second, per split, how many pairs each
    right/wrong pattern of the models' sums holds (one column per model, the count in "pairs"): the models
    are scored on the same pairs, so a comparison of the two is a paired one."""
    ds = ctx.dataset("mnist")
    xt, dt = make_pairs(ds.x_test, ds.y_test, cfg.pairs.test_pairs, cfg.pairs.seed + 1, exclude=cfg.pairs.exclude)
    xh, dh = make_pairs(ds.x_test, ds.y_test, cfg.held_out_test_pairs, cfg.pairs.seed + 2, only=cfg.pairs.exclude)
    rows, hits = [], {}
    for name, run in runs.items():
        for split, x, d in ((SEEN, xt, dt), (HELD, xh, dh)):
            sums, digits = predicted_sums(run, to_float(x))
            hits.setdefault(split, {})[name] = sums == d.sum(axis=1)
            row = {"model": name, "split": split, "pairs": len(x),
                   "sum_accuracy": float((sums == d.sum(axis=1)).mean())}
            if digits is not None:
                per_digit = (digits == d)
                row.update({"digit_accuracy": float(per_digit.mean()),
                            "both_digits_accuracy": float(per_digit.all(axis=1).mean()),
                            "digit_accuracy_squared": float(per_digit.mean() ** 2)})
            rows.append(row)
    patterns = pd.concat([right_wrong(by_model, "pairs").assign(split=split) for split, by_model in hits.items()],
                         ignore_index=True)
    return pd.DataFrame(rows), patterns


@question("huji.5.1", "Two digits: the sum as one of 19 classes", config=sum_config)
def sum_classifier(cfg: SumConfig, ctx: Context) -> Result:
    """5.1 Design, implement and train a CNN architecture that takes as input two MNIST images
    (concatenated horizontally or vertically) and predicts their sum. 5.1.1 Plot the training steps
    (train and test of each iteration) of this network."""
    run = ctx.train(sum_run(cfg))
    return Result(tables={"history": run.history, "params": run.params},
                  facts={"held_out": [list(p) for p in cfg.pairs.exclude]})


@question("huji.5.2", "Two digits: two labels in one forward pass", config=sum_config)
def digit_pair(cfg: SumConfig, ctx: Context) -> Result:
    """5.2 Design, implement and train a CNN architecture that takes as input two MNIST images,
    predicts each number separately and sums the two numbers. Notice that the network should predict
    a pair of labels (a vector of dimension 2). This should be done in a single forward pass through
    the network. 5.2.1 Plot the training steps (train and test of each iteration) of this network."""
    run = ctx.train(digits_run(cfg))
    return Result(tables={"history": run.history, "params": run.params,
                          "evaluation": evaluation(cfg, ctx, {"two-digit network": run})[0]},
                  facts={"held_out": [list(p) for p in cfg.pairs.exclude]})


@question("huji.5.3", "Two digits: which strategy works better, and why", config=sum_config)
def compare(cfg: SumConfig, ctx: Context) -> Result:
    """5.3 Which strategy worked better and why?"""
    runs = {"sum classifier": ctx.train(sum_run(cfg)), "two-digit network": ctx.train(digits_run(cfg))}
    # Both models again with every other seed, for the comparison over seeds. Every run trains before any is
    # evaluated: the planner (experiments.plan) stops at the first evaluation.
    others = {seed: {"sum classifier": ctx.train(sum_run(cfg, seed)),
                     "two-digit network": ctx.train(digits_run(cfg, seed))}
              for seed in cfg.seeds if seed != cfg.train.seed}
    curves = pd.concat([r.history.assign(model=name) for name, r in runs.items()])
    scores, patterns = evaluation(cfg, ctx, runs)
    by_seed = [scores.assign(seed=cfg.train.seed)]
    by_seed += [evaluation(cfg, ctx, again)[0].assign(seed=seed) for seed, again in others.items()]
    return Result(tables={"evaluation": scores, "patterns": patterns, "curves": curves,
                          "by_seed": pd.concat(by_seed, ignore_index=True)},
                  facts={"held_out": [list(p) for p in cfg.pairs.exclude], "seed": cfg.train.seed,
                         "train_pairs": cfg.pairs.train_pairs, "test_pairs": cfg.pairs.test_pairs})
