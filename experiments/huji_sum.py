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
FEWER_PAIRS = (3000,)
PROBE_RIDGE = 1e-4   # per example: keeps the least-squares probe well posed where ReLU units are dead


@dataclass(frozen=True)
class SumConfig:
    train: TrainConfig
    pairs: PairSpec = PairSpec(train_pairs=60000, test_pairs=10000, seed=0, exclude=HELD_OUT)
    held_out_test_pairs: int = 2000   # test pairs made only of the held-out combinations
    probe_pairs: int = 10000          # training pairs the linear probes of 5.3 are fitted on
    # 5.3 trains both models (first seed) on fewer training pairs too, with the same steps: how much data each needs
    fewer_pairs: tuple[int, ...] = FEWER_PAIRS
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


def _pairs(cfg: SumConfig, target: str, train_pairs: int | None, label: str) -> tuple[PairSpec, str]:
    if train_pairs is None or train_pairs == cfg.pairs.train_pairs:
        return PairSpec(**{**cfg.pairs.__dict__, "target": target}), label
    return (PairSpec(**{**cfg.pairs.__dict__, "target": target, "train_pairs": train_pairs}),
            f"{label}, {train_pairs:,} pairs")


def sum_run(cfg: SumConfig, seed: int | None = None, train_pairs: int | None = None) -> RunSpec:
    train, label = _seeded(cfg, "sum classifier", seed)
    pairs, label = _pairs(cfg, "sum", train_pairs, label)
    return RunSpec("pair_cnn", train, {"head": "sum"}, label=label, pairs=pairs)


def digits_run(cfg: SumConfig, seed: int | None = None, train_pairs: int | None = None) -> RunSpec:
    train, label = _seeded(cfg, "two-digit network", seed)
    pairs, label = _pairs(cfg, "digits", train_pairs, label)
    return RunSpec("pair_cnn", train, {"head": "digits"}, label=label, pairs=pairs)


def predicted_sums(run: Run, x: np.ndarray) -> np.ndarray:
    out = run.predict(x)
    if out.ndim == 3:                       # two heads: the sum of the two predicted digits
        return out.argmax(-1).sum(axis=1), out.argmax(-1)
    return out.argmax(-1), None


def evaluation(cfg: SumConfig, ctx: Context, runs: dict[str, Run]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Sum accuracy of each model on test pairs of the combinations seen in training (the same pairs the
    training curves are measured on) and, apart, on test pairs of the held-out combinations only; the
    two-digit network's per-digit and both-digits accuracy. Second, per split, how many pairs each
    right/wrong pattern of the models' sums holds (one column per model, the count in "pairs"): the models
    are scored on the same pairs, so a comparison of the two is a paired one. Third, each model's sum accuracy by
    digit pair (left, right) over both splits: the 10 x 10 map."""
    ds = ctx.dataset("mnist")
    xt, dt = make_pairs(ds.x_test, ds.y_test, cfg.pairs.test_pairs, cfg.pairs.seed + 1, exclude=cfg.pairs.exclude)
    xh, dh = make_pairs(ds.x_test, ds.y_test, cfg.held_out_test_pairs, cfg.pairs.seed + 2, only=cfg.pairs.exclude)
    rows, hits, cells = [], {}, []
    for name, run in runs.items():
        for split, x, d in ((SEEN, xt, dt), (HELD, xh, dh)):
            sums, digits = predicted_sums(run, to_float(x))
            hits.setdefault(split, {})[name] = sums == d.sum(axis=1)
            cells.append(pd.DataFrame({"model": name, "left": d[:, 0], "right": d[:, 1],
                                       "correct": sums == d.sum(axis=1)}))
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
    by_pair = (pd.concat(cells).groupby(["model", "left", "right"])["correct"].agg(pairs="count", sum_accuracy="mean")
               .reset_index())
    return pd.DataFrame(rows), patterns, by_pair


def fc1_features(run: Run, x: np.ndarray) -> np.ndarray:
    """The hidden dense layer's output (after its ReLU, before dropout and the head) for images x."""
    import keras

    m = run.model("float32")
    return np.asarray(keras.Model(m.inputs, m.get_layer("fc1").output).predict(to_float(x), batch_size=500, verbose=0),
                      dtype=np.float64)


def linear_probe(f_fit: np.ndarray, d_fit: np.ndarray, tests: dict[str, tuple[np.ndarray, np.ndarray]],
                 ridge: float = PROBE_RIDGE) -> list[dict]:
    """Can each digit be read from the features by a linear map? One least-squares (ridge) map from the features to
    the one-hot digit, per position, fitted on f_fit and scored on each test split: its argmax against the digit."""
    def design(f):
        return np.c_[f, np.ones(len(f))]

    x = design(f_fit)
    gram = x.T @ x + ridge * len(x) * np.eye(x.shape[1])
    rows = []
    for pos, side in enumerate(("left", "right")):
        w = np.linalg.solve(gram, x.T @ np.eye(10)[d_fit[:, pos]])
        for split, (f, d) in tests.items():
            rows.append({"digit": side, "split": split, "pairs": len(d),
                         "probe_accuracy": float(((design(f) @ w).argmax(-1) == d[:, pos]).mean())})
    return rows


def probes(cfg: SumConfig, ctx: Context, runs: dict[str, Run]) -> pd.DataFrame:
    """The linear probe of each model's features: fitted on training pairs (of the seen combinations), scored on
    test pairs of the seen and of the held-out combinations."""
    ds = ctx.dataset("mnist")
    xf, df = make_pairs(ds.x_train, ds.y_train, cfg.probe_pairs, cfg.pairs.seed + 3, exclude=cfg.pairs.exclude)
    xt, dt = make_pairs(ds.x_test, ds.y_test, cfg.pairs.test_pairs, cfg.pairs.seed + 1, exclude=cfg.pairs.exclude)
    xh, dh = make_pairs(ds.x_test, ds.y_test, cfg.held_out_test_pairs, cfg.pairs.seed + 2, only=cfg.pairs.exclude)
    rows = []
    for name, run in runs.items():
        tests = {SEEN: (fc1_features(run, xt), dt), HELD: (fc1_features(run, xh), dh)}
        rows += [{"model": name, **r} for r in linear_probe(fc1_features(run, xf), df, tests)]
    return pd.DataFrame(rows)


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
    fewer = {n: {"sum classifier": ctx.train(sum_run(cfg, train_pairs=n)),
                 "two-digit network": ctx.train(digits_run(cfg, train_pairs=n))}
             for n in cfg.fewer_pairs if n < cfg.pairs.train_pairs}
    curves = pd.concat([r.history.assign(model=name) for name, r in runs.items()])
    scores, patterns, by_pair = evaluation(cfg, ctx, runs)
    by_pairs = [scores.assign(train_pairs=cfg.pairs.train_pairs)]
    by_pairs += [evaluation(cfg, ctx, again)[0].assign(train_pairs=n) for n, again in fewer.items()]
    by_seed = [scores.assign(seed=cfg.train.seed)]
    by_seed += [evaluation(cfg, ctx, again)[0].assign(seed=seed) for seed, again in others.items()]
    return Result(tables={"evaluation": scores, "patterns": patterns, "curves": curves,
                          "by_seed": pd.concat(by_seed, ignore_index=True), "by_pair": by_pair,
                          "by_train_pairs": pd.concat(by_pairs, ignore_index=True).sort_values("train_pairs"),
                          "probes": probes(cfg, ctx, runs)},
                  facts={"held_out": [list(p) for p in cfg.pairs.exclude], "seed": cfg.train.seed,
                         "train_pairs": cfg.pairs.train_pairs, "test_pairs": cfg.pairs.test_pairs,
                         "probe_pairs": cfg.probe_pairs})
