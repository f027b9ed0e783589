"""Training and inference throughput of every registered model, against this machine's matmul peak.

    python -m ex1.bench [--steps 300] [--precision auto] [--csv bench.csv]
    python -m ex1.bench --budget [--out out] [--csv budget.csv]
    python -m ex1.bench --guess [--steps 300]      (the progress estimate's first guess against training)

Prints one row per model: training images/s at batch 50 (the engine of ex1.train, compiled
steps, evaluation excluded), inference images/s (batches of 2000), FLOPs per training image
derived from the layer shapes (forward x 3: one forward and two backward matmuls), and the
fraction of the fp32 / bf16 matmul peak measured in the same run. Speed claims are checked
here, never in unit tests. Numbers vary +-20% run to run on shared machines: compare rows of
one run.

--budget reads the full-profile answers in the results store instead, and prices every training
run they used: FLOPs of its training steps and of its evaluations, the time those FLOPs take at
the matmul peak measured now (a floor no engine on this machine goes below), and the wall time
the run took when it was trained.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd

from .flops import forward_flops, run_flops

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def matmul_peak(dtype: str, n: int = 4096, repeats: int = 5) -> float:
    """GFLOP/s of an n x n matmul in the given dtype, best of `repeats` after a warm-up."""
    import tensorflow as tf

    a = tf.random.normal((n, n), dtype=tf.float32)
    a = tf.cast(a, dtype)
    mm = tf.function(lambda x: tf.matmul(x, x))
    mm(a).numpy()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        mm(a).numpy()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def inference_rate(model, shape, n: int = 10000, batch: int = 2000) -> float:
    import tensorflow as tf

    x = np.random.default_rng(0).random((n, *shape), dtype=np.float32)
    f = tf.function(lambda b: model(b, training=False), reduce_retracing=True)
    f(x[:batch]).numpy()
    t = time.perf_counter()
    for s in range(0, n, batch):
        f(x[s: s + batch]).numpy()
    return n / (time.perf_counter() - t)


def training_rate(name: str, shape, outputs, steps: int, precision: str) -> float:
    """Images/s of ex1.train over `steps` steps after a warm-up block that includes tracing."""
    from . import models, train

    rng = np.random.default_rng(0)
    x = rng.random((5000, *shape), dtype=np.float32)
    y = rng.integers(0, outputs[-1], (5000, *outputs[:-1])).astype(np.uint8)
    warm = 50
    cfg = train.TrainConfig(steps=warm + steps, eval_every=warm, batch_size=50, train_eval_size=100,
                            test_size=100, precision=precision)
    # Evaluations at 0, `warm`, 2 warm, ...: train_s excludes them, so the difference between the
    # row at `warm` (tracing included before it) and the last row is pure training time.
    res = train.train(lambda dt: models.create_model(name, **({"dtype": dt} if dt else {})),
                      x, y, x[:100], y[:100], cfg, log=lambda s: None)
    h = res.history.set_index("step")
    measured = h["train_s"].iloc[-1] - h.loc[warm, "train_s"]
    return steps * 50 / measured


def run(steps: int, precision: str) -> pd.DataFrame:
    from . import machine, models

    precision = machine.resolve_precision(precision)
    peak32 = matmul_peak("float32")
    peak16 = matmul_peak("bfloat16")
    rows = []
    for name in models.list_models():
        m = models.create_model(name)
        shape = tuple(int(d) for d in m.input_shape[1:])
        outputs = tuple(int(d) for d in m.output_shape[1:])
        flops = 3 * forward_flops(m)
        train_ips = training_rate(name, shape, outputs, steps, precision)
        infer_ips = inference_rate(m if precision == "float32" else models.create_model(name, dtype=precision), shape)
        achieved = train_ips * flops / 1e9
        rows.append({"model": name, "params": m.count_params(), "precision": precision,
                     "train_images_per_s": round(train_ips), "infer_images_per_s": round(infer_ips),
                     "train_mflop_per_image": round(flops / 1e6, 3), "train_gflop_per_s": round(achieved, 2),
                     "fraction_fp32_peak": round(achieved / peak32, 3),
                     "fraction_bf16_peak": round(achieved / peak16, 3)})
    df = pd.DataFrame(rows)
    df.attrs.update(machine=f"{machine.cpu_description()}, {machine.kernels_description()}",
                    fp32_peak=peak32, bf16_peak=peak16)
    return df


def stored_runs(store_root, profile: str = "full") -> pd.DataFrame:
    """Every distinct training run of the answer to each question that this checkout's code reads (the newest
    such), or else of the newest answer: a store keeps the answers of older code too, and the newest on disk
    can be a trial the code no longer makes (a 3,000-step curve run, tried and reverted, once priced into Q4)."""
    import json
    from pathlib import Path

    from . import codehash, golden
    from .runner import trained_with

    rows, seen = [], set()
    for qdir in sorted(Path(store_root, "questions").glob("*")):
        entries = [json.loads(p.read_text())["record"] for p in sorted(qdir.glob("*/record.json"),
                                                                      key=lambda p: p.stat().st_mtime)]
        full = [r for r in entries if r["key_payload"]["profile"]["name"] == profile]
        if not full:
            continue
        current = [r for r in full if "code_deps" in r   # older records name no dependencies: never current
                   and codehash.matches_checkout(r["code_deps"], str(golden.ENGINE_VERSION))]
        for run in (current or full)[-1]["runs"]:
            ident = json.dumps([run["model"], run["model_kwargs"], run["config"], run["dataset"],
                                run["train_examples"]], sort_keys=True)
            if ident not in seen:  # a run that several questions share was trained once
                seen.add(ident)
                rows.append({"question": qdir.name, **run, "trained_with": trained_with(run)})
    return pd.DataFrame(rows)


def budget(store_root, peak_gflops: float | dict[str, float], profile: str = "full") -> pd.DataFrame:
    """FLOPs and floor time of every stored run of a profile, next to the time it really took.

    peak_gflops: one matmul peak for every run, or one per precision ({"float32": ..., "mixed_bfloat16": ...}):
    each run is then priced at the peak of the precision it trained in."""
    peaks = peak_gflops if isinstance(peak_gflops, dict) else {}
    from . import models, train

    runs = stored_runs(store_root, profile)
    if runs.empty:
        raise ValueError(f"no {profile}-profile answers in {store_root}: "
                         f"run `python Ex1_main.py --all --profile {profile} --out DIR` first")
    fwd_cache, rows = {}, []
    for r in runs.itertuples():
        key = (r.model, repr(sorted(r.model_kwargs.items())))
        if key not in fwd_cache:
            # The recorded kwargs come back from JSON: tuples as lists; the model's name is create_model's own.
            kw = {k: tuple(v) if isinstance(v, list) else v for k, v in r.model_kwargs.items() if k != "name"}
            fwd_cache[key] = forward_flops(models.create_model(r.model, **kw))
        fwd = fwd_cache[key]
        # The steps actually trained: a run that stops once flat trains fewer than its config's cap.
        steps = int(getattr(r, "final_step", r.config["steps"]))
        cfg = train.TrainConfig(**{**r.config, "steps": steps, "lr_boundaries": tuple(r.config["lr_boundaries"]),
                                   "lr_values": tuple(r.config["lr_values"])})
        # A validation hold-out (Bonn's sweep) replaces the test set at every evaluation.
        validation = getattr(r, "validation", None)
        # MNIST, CIFAR-10 and the two-digit pairs all test on 10,000 images.
        n_test = int(validation) if pd.notna(validation) else 10000
        train_flop, eval_flop = run_flops(fwd, cfg, r.train_examples, n_test)
        peak = peaks.get(cfg.precision, peaks.get("float32")) if peaks else peak_gflops
        packed = getattr(r, "trained_with", 1)
        packed = 1 if pd.isna(packed) else int(packed)
        rows.append({"question": r.question, "run": r.label, "model": r.model, "steps": cfg.steps,
                     "precision": cfg.precision, "peak_gflops": peak,
                     "train_tflop": train_flop / 1e12, "eval_tflop": eval_flop / 1e12,
                     "floor_s": (train_flop + eval_flop) / (peak * 1e9),
                     # a run trained packed with others shares one wall clock with them: its part is 1/n
                     "measured_s": r.wall_seconds / packed, "measured_images_per_s": r.images_per_second,
                     "trained_with": packed})
    return pd.DataFrame(rows)


def print_budget(out: str, csv: str) -> None:
    from pathlib import Path

    from . import machine

    # Each precision's own peak: a bfloat16 run is priced at what bfloat16 matmuls reach here, not float32's.
    peaks = {"float32": matmul_peak("float32"), "mixed_bfloat16": matmul_peak("bfloat16")}
    peaks["mixed_float16"] = peaks["float32"]   # a CPU has no float16 matmul units; TF upcasts
    df = budget(Path(out) / "store", peaks)
    per_q = df.groupby("question", sort=False).agg(runs=("run", "size"), train_tflop=("train_tflop", "sum"),
                                                   eval_tflop=("eval_tflop", "sum"), floor_min=("floor_s", "sum"),
                                                   measured_min=("measured_s", "sum"))
    per_q[["floor_min", "measured_min"]] /= 60
    total = per_q.sum()
    used = ", ".join(f"{p}: {n} runs" for p, n in df["precision"].value_counts().items())
    print(f"machine: {machine.cpu_description()}, {machine.kernels_description()}; matmul 4096^2 peaks measured now: float32 {peaks['float32']:.0f} "
          f"GFLOP/s, bfloat16 {peaks['mixed_bfloat16']:.0f} GFLOP/s")
    print(f"full profile, every distinct training run of the stored answers, each priced at the peak of the "
          f"precision it trained in ({used}):")
    print(per_q.round(2).to_string())
    print(f"total: {int(total['runs'])} runs, {total['train_tflop']:.0f} TFLOP training + "
          f"{total['eval_tflop']:.0f} TFLOP evaluation; floor {total['floor_min']:.1f} min at 100% of the peak, "
          f"measured {total['measured_min']:.1f} min (floor / measured = {total['floor_min'] / total['measured_min']:.2f})")
    df.to_csv(csv, index=False)
    print(f"written: {csv}")


def print_guess(precision: str, steps: int) -> None:
    """The rate the progress estimate assumes before it has measured anything (experiments.plan.guessed_rate),
    against what the big networks then train at through ex1.train, in one run on this machine."""
    from experiments.plan import guessed_rate

    from . import machine, models

    precision = machine.resolve_precision(precision)
    guessed_rate(precision)   # TensorFlow's start-up is not the guess's cost
    t = time.perf_counter()
    guess = guessed_rate(precision)
    cost = time.perf_counter() - t
    old = 0.5 * matmul_peak("bfloat16" if precision == "mixed_bfloat16" else "float32", n=1024)
    print(f"machine: {machine.cpu_description()}, {machine.kernels_description()}; {precision}")
    print(f"guess: {guess:.1f} GFLOP/s in {cost:.1f} s (the guess before 2026-12-03, half the 1024^2 matmul peak: "
          f"{old:.1f})")
    for name in ("huji_cnn", "bonn_cnn", "pair_cnn"):
        m = models.create_model(name)
        shape, outputs = tuple(int(d) for d in m.input_shape[1:]), tuple(int(d) for d in m.output_shape[1:])
        achieved = training_rate(name, shape, outputs, steps, precision) * 3 * forward_flops(m) / 1e9
        print(f"{name}: trains at {achieved:.1f} GFLOP/s; guess / measured {guess / achieved:.2f}, "
              f"old guess / measured {old / achieved:.2f}")


def startup_seconds(data_dir: str | None = None) -> dict[str, float]:
    """Seconds from launching `Ex1_main.py --only huji.1.2` on an empty store to its first training log line
    and to its step-0 evaluation line: what a user waits before anything trains."""
    import subprocess
    import tempfile
    from pathlib import Path

    main_py = Path(__file__).resolve().parents[1] / "Ex1_main.py"
    cmd = [sys.executable, str(main_py), "--only", "huji.1.2", "--no-pdf", "--html"]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    marks: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd + ["--out", out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            for line in proc.stdout:
                if " training " in line and "to first training line" not in marks:
                    marks["to first training line"] = time.perf_counter() - t0
                if "step      0/" in line:
                    marks["to the step-0 evaluation"] = time.perf_counter() - t0
                    break
        finally:
            proc.kill()
            proc.wait()
    if "to the step-0 evaluation" not in marks:
        raise ValueError("Ex1_main.py ended before its first training step; run it by hand to see why")
    marks.update(usage_error_seconds(main_py))
    return marks


def usage_error_seconds(main_py, repeats: int = 3) -> dict[str, float]:
    """Seconds from launching the command with a mistyped id, a bad --names and a file for --out to its one-line
    error (the input is checked before TensorFlow is imported): the best of `repeats` each."""
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile() as f:
        cases = {"an unknown id": ["--only", "huji.31"], "empty --names": ["--all", "--names", ""],
                 "--out naming a file": ["--all", "--out", f.name]}
        out = {}
        for what, args in cases.items():
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, str(main_py), *args], capture_output=True)
                best = min(best, time.perf_counter() - t0)
            out[f"usage error ({what})"] = best
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ex1.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=300, help="measured training steps per model (after 50 warm-up)")
    p.add_argument("--precision", default="auto", help="auto, float32 or mixed_bfloat16")
    p.add_argument("--csv", help="where to write the table (default bench.csv, or budget.csv with --budget)")
    p.add_argument("--budget", action="store_true",
                   help="price the stored full-profile runs against the peak instead (see --out)")
    p.add_argument("--out", default="out", help="with --budget: the output directory holding the store")
    p.add_argument("--startup", action="store_true",
                   help="time the start-up instead: from the command to the first training step (idle machine)")
    p.add_argument("--data-dir", help="with --startup: the data directory Ex1_main.py is given")
    p.add_argument("--guess", action="store_true",
                   help="compare the progress estimate's first guess of the rate with the big networks' training")
    args = p.parse_args(argv)
    if args.guess:
        print_guess(args.precision, args.steps)
        return 0
    if args.startup:
        try:
            for what, s in startup_seconds(args.data_dir).items():
                print(f"start-up, {what}: {s:.1f} s")
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    if args.budget:
        try:
            print_budget(args.out, args.csv or "budget.csv")
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    df = run(args.steps, args.precision)
    from . import machine

    print(f"machine: {df.attrs['machine']}")
    print(f"versions: {machine.versions()}")
    print(f"matmul 4096^2: fp32 {df.attrs['fp32_peak']:.0f} GFLOP/s, bf16 {df.attrs['bf16_peak']:.0f} GFLOP/s")
    print(df.to_string(index=False))
    csv = args.csv or "bench.csv"
    df.to_csv(csv, index=False)
    print(f"written: {csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
