"""Does mixed bfloat16 train to the same accuracy as float32? Trained and measured, not assumed.

    python -m ex1.precision_check [--recipe huji_same|gap] [--seeds 3] [--out out] [--data-dir DIR]

Trains one recipe at its full step count in float32 and in Keras's mixed_bfloat16 policy, with the
same seeds (initial weights, data order, dropout masks), through the results store: runs are
cached, an interrupted check resumes, and a run a question already trained is reused. Prints one
row per run and a summary (mean, standard deviation, the difference and its standard error), and
writes both as CSV next to the benchmark's.

`huji_same` is the HUJI network with 'same' padding and the tutorial's recipe (Adam 1e-4, batches
of 50, 20,000 steps). `gap` is the Tuebingen global-average-pooling network with the recipe of
question tuebingen.1 (momentum 0.9, 0.05 then 0.005, 10,000 steps): 24 times fewer FLOPs per image,
for CPUs that emulate bfloat16 and would need hours for `huji_same`.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from .stats import welch

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PRECISIONS = ("float32", "mixed_bfloat16")


@dataclass(frozen=True)
class Recipe:
    model: str
    sheet_steps: int
    train_kwargs: dict
    model_kwargs: dict = field(default_factory=dict)
    description: str = ""


RECIPES = {
    "huji_same": Recipe("huji_cnn_same", 20000, {"optimizer": "adam", "learning_rate": 1e-4, "batch_size": 50},
                        {"dropout": 0.5}, "HUJI network, 'same' padding, Adam 1e-4, 20,000 steps of 50"),
    "gap": Recipe("gap_cnn", 10000, {"optimizer": "momentum", "momentum": 0.9, "batch_size": 50,
                                     "lr_values": (0.05, 0.005)},
                  description="Tübingen GAP network, momentum 0.9, 0.05 → 0.005 at half, 10,000 steps of 50"),
}


def specs(recipe: Recipe, profile, seeds: int):
    """The RunSpecs: every seed in both precisions (the float32 seed 0 of `gap` is tuebingen.1's run)."""
    from .runner import RunSpec

    kw = dict(recipe.train_kwargs)
    if "lr_values" in kw:  # the rate drops after half of the steps the profile trains
        kw["lr_boundaries"] = (profile.steps(recipe.sheet_steps) // 2,)
    base = profile.train_config(recipe.sheet_steps, **kw)
    return [RunSpec(recipe.model, replace(base, seed=s, precision=p), dict(recipe.model_kwargs),
                    label=f"{recipe.model}, {p}, seed {s}")
            for p in PRECISIONS for s in range(seeds)]


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Per precision: n, mean and std of the final test accuracy; then bfloat16 minus float32, its
    standard error, Welch's 95% interval and p-value, and whether the interval includes zero."""
    g = runs.groupby("precision", sort=False)["test_accuracy"]
    rows = [{"precision": p, "n": int(s.count()), "mean_test_accuracy": float(s.mean()),
             "std_test_accuracy": float(s.std(ddof=1)) if s.count() > 1 else float("nan"),
             "mean_images_per_s": float(runs.loc[runs["precision"] == p, "images_per_s"].mean())}
            for p, s in g]
    out = pd.DataFrame(rows)
    if set(out["precision"]) == set(PRECISIONS):
        a, b = (out.set_index("precision").loc[p] for p in PRECISIONS)
        test = welch(a["mean_test_accuracy"], a["std_test_accuracy"], a["n"],
                     b["mean_test_accuracy"], b["std_test_accuracy"], b["n"])
        # Same seed = same initial weights and batches: the per-seed difference isolates the precision.
        paired = runs.pivot(index="seed", columns="precision", values="test_accuracy").dropna()
        d = paired[PRECISIONS[1]] - paired[PRECISIONS[0]]
        out.attrs.update(difference=test.diff, standard_error=test.se, interval=(test.low, test.high),
                         p_value=test.p, within_seed_noise=not test.significant if test.measurable else None,
                         paired_seeds=len(d), paired_mean=float(d.mean()),
                         paired_max_abs=float(d.abs().max()) if len(d) else float("nan"))
    return out


def run(recipe_name: str, seeds: int, out: str, data_dir: str | None, profile_name: str = "full"):
    from .runner import Context, get_profile
    from .store import Store

    if recipe_name not in RECIPES:
        raise ValueError(f"unknown recipe {recipe_name!r}; choose one of: {', '.join(RECIPES)}")
    if seeds < 1:
        raise ValueError("--seeds must be at least 1")
    recipe = RECIPES[recipe_name]
    profile = get_profile(profile_name)
    ctx = Context(profile=profile, store=Store(Path(out) / "store"), data_dir=data_dir,
                  log=lambda line: print(line, flush=True))
    rows = []
    for spec in specs(recipe, profile, seeds):
        r = ctx.train(spec)
        rows.append({"recipe": recipe_name, "model": spec.model, "precision": spec.config.precision,
                     "seed": spec.config.seed, "steps": int(r.final["step"]),
                     "test_accuracy": float(r.final["heldout_accuracy"]),
                     "train_accuracy": float(r.final["train_accuracy"]),
                     "test_loss": float(r.final["heldout_loss"]),
                     "train_s": float(r.record["train_seconds"]),
                     "images_per_s": float(r.record["images_per_second"]), "cache_hit": r.cache_hit})
    table = pd.DataFrame(rows)
    return table, summarise(table)


def main(argv=None) -> int:
    from . import machine

    p = argparse.ArgumentParser(prog="python -m ex1.precision_check", description=__doc__.split("\n\n")[0])
    p.add_argument("--recipe", default="huji_same", help=f"one of: {', '.join(RECIPES)}")
    p.add_argument("--seeds", type=int, default=3, help="seeds per precision (0, 1, ...)")
    p.add_argument("--out", default="out", help="directory of the results store (as Ex1_main.py --out)")
    p.add_argument("--data-dir", default=os.environ.get("EX1_DATA_DIR"), help="mnist.npz directory")
    p.add_argument("--profile", default="full", help="full, or quick to try the tool in seconds")
    args = p.parse_args(argv)
    try:
        table, summary = run(args.recipe, args.seeds, args.out, args.data_dir, args.profile)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"machine: {machine.cpu_description()} (native bfloat16: {machine.has_native_bf16()})")
    print(f"recipe: {args.recipe}: {RECIPES[args.recipe].description}; profile {args.profile}")
    print(table.to_string(index=False))
    print(summary.to_string(index=False))
    if "difference" in summary.attrs:
        a = summary.attrs
        verdict = {True: "within", False: "NOT within", None: "no estimate of"}[a["within_seed_noise"]]
        low, high = a["interval"]
        print(f"bfloat16 - float32: {100 * a['difference']:+.3f} points, 95% interval {100 * low:+.3f} to "
              f"{100 * high:+.3f} (Welch's t-test, p = {a['p_value']:.2g}): {verdict} seed noise "
              "(the interval includes zero)")
        print(f"same seed, bfloat16 - float32 ({a['paired_seeds']} seeds): mean {100 * a['paired_mean']:+.3f} points, "
              f"largest {100 * a['paired_max_abs']:.3f} points")
    dest = Path(args.out) / "bench"
    dest.mkdir(parents=True, exist_ok=True)
    stem = f"precision_{args.recipe}_{args.profile}"
    table.to_csv(dest / f"{stem}_runs.csv", index=False)
    summary.assign(**{k: v for k, v in summary.attrs.items()}).to_csv(dest / f"{stem}_summary.csv", index=False)
    print(f"written: {dest / (stem + '_runs.csv')}, {dest / (stem + '_summary.csv')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
