"""Training speed of each layout of the engine, against another version of it and against a plain Keras `fit`.

    python -m ex1.enginebench [--against DIR] [--steps 300] [--repeats 2] [--precision auto] [--csv FILE]

Each case trains in a fresh process on synthetic images of the dataset's shape (the speed does not depend on
their content): a model alone (the HUJI network on MNIST, the Bonn CNN on CIFAR-10, each with its sheet's
optimiser and batch), models packed on one first convolution, and a fused sweep of two seeds. Steps per second
count the training steps after a 50-step warm-up (the first block compiles the step), evaluations excluded.

--against DIR also times, alternately in the same run, the engine of another checkout (for example a git
worktree of an earlier commit), through the public functions both share: train.train, packed.train_packed and
fused.train_fused. The same run times Keras's own `model.fit` on the two single-model cases (same model,
batch, optimiser, precision and number of images; a tf.data pipeline as the Keras guide writes it:
from_tensor_slices, shuffle, batch, map to float, prefetch) and prints the engine's speed as a ratio to it.
Numbers vary from run to run on a shared machine: compare the rows of one run, on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
WARM = 50

# Run in a fresh interpreter with PYTHONPATH set to the checkout being timed; only the API every version has.
_CASE = r'''
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
case, steps, precision = sys.argv[1], int(sys.argv[2]), sys.argv[3]
from ex1 import models, train
WARM = 50

def images(shape, n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8), rng.integers(0, 10, size=n).astype(np.uint8)

def build(name, **kw):
    return lambda dtype: models.create_model(name, **kw, **({"dtype": dtype} if dtype else {}))

mnist = (*images((28, 28), 10000, 1), *images((28, 28), 500, 2))
cifar = (*images((32, 32, 3), 10000, 3), *images((32, 32, 3), 500, 4))
adam = train.TrainConfig(steps=WARM + steps, eval_every=WARM, batch_size=50, train_eval_size=200, test_size=200,
                         learning_rate=1e-4, precision=precision)
momentum = train.TrainConfig(steps=WARM + steps, eval_every=WARM, batch_size=50, train_eval_size=200, test_size=200,
                             optimizer="momentum", learning_rate=0.01, precision=precision)
quiet = dict(log=lambda s: None)

def rate(results):
    h = results[0].history
    # Every run of a layout takes its steps together; each history holds its share (the total over the runs).
    return steps / ((h["train_s"].iloc[-1] - h["train_s"].iloc[1]) * results[0].extra.get("trained_with", 1))

if case == "alone: HUJI network, MNIST, Adam":
    out = rate([train.train(build("huji_cnn"), *mnist, adam, **quiet)])
elif case == "alone: Bonn CNN, CIFAR-10, momentum":
    out = rate([train.train(build("bonn_cnn", input_shape=(32, 32, 3)), *cifar, momentum, **quiet)])
elif case == "packed: 3 HUJI widths, MNIST, Adam":
    from ex1 import packed
    out = rate(packed.train_packed([build("huji_cnn", filters=(f, 2 * f), dense_units=16 * f) for f in (4, 8, 16)],
                                   *mnist, adam, **quiet))
elif case == "fused: 6 shallow + 2 deep, 2 seeds, MNIST, Adam":
    from dataclasses import replace
    from ex1 import fused
    lane = [build("shallow_cnn", filters=f, pool=6) for f in (2, 3, 4, 5, 6, 8)] + \
        [build("huji_cnn", filters=(2, 4), dense_units=8), build("huji_cnn", filters=(3, 6), dense_units=16)]
    res = fused.train_fused([lane, lane], [adam, replace(adam, seed=1)], *mnist, **quiet)
    out = rate(res[0])
elif case.startswith("keras fit"):
    import keras, tensorflow as tf
    tf.config.experimental.enable_op_determinism()
    bonn = "Bonn" in case
    x, y = (cifar if bonn else mnist)[:2]
    if not bonn:
        x = x[..., None]
    keras.utils.set_random_seed(0)
    if precision != "float32":
        keras.mixed_precision.set_global_policy(precision)
    model = models.create_model("bonn_cnn", input_shape=(32, 32, 3)) if bonn else models.create_model("huji_cnn")
    opt = keras.optimizers.SGD(0.01, momentum=0.9) if bonn else keras.optimizers.Adam(1e-4)
    model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ds = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).batch(50)
          .map(lambda a, b: (tf.cast(a, tf.float32) / 255.0, b), num_parallel_calls=tf.data.AUTOTUNE)
          .repeat().prefetch(tf.data.AUTOTUNE))
    model.fit(ds, epochs=1, steps_per_epoch=WARM, verbose=0)
    t = time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
    out = steps / (time.perf_counter() - t)
print("RESULT " + json.dumps(out))
'''

CASES = ("alone: HUJI network, MNIST, Adam", "alone: Bonn CNN, CIFAR-10, momentum",
         "packed: 3 HUJI widths, MNIST, Adam", "fused: 6 shallow + 2 deep, 2 seeds, MNIST, Adam")
KERAS = {"alone: HUJI network, MNIST, Adam": "keras fit: HUJI network", "alone: Bonn CNN, CIFAR-10, momentum":
         "keras fit: Bonn CNN"}


def steps_per_second(tree: Path, case: str, steps: int, precision: str) -> float:
    """Steps per second of one case, trained in a fresh process by the engine of the checkout at `tree`."""
    env = dict(os.environ, PYTHONPATH=str(tree), TF_CPP_MIN_LOG_LEVEL="3")
    p = subprocess.run([sys.executable, "-c", _CASE, case, str(steps), precision], cwd=tree, env=env,
                       capture_output=True, text=True)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode or not lines:
        raise RuntimeError(f"{case} failed in {tree}: {(p.stderr.strip().splitlines() or ['no output'])[-1]}")
    return json.loads(lines[-1][7:])


def run(against: Path | None, steps: int, repeats: int, precision: str, only: str = "") -> pd.DataFrame:
    rows = []
    for case in (c for c in CASES if only in c):
        row = {"case": case, "steps/s": 0.0}
        for _ in range(repeats):   # alternated, best of each: drift of the machine hits both alike
            row["steps/s"] = max(row["steps/s"], steps_per_second(ROOT, case, steps, precision))
            if against is not None:
                row["other steps/s"] = max(row.get("other steps/s", 0.0),
                                           steps_per_second(against, case, steps, precision))
        if against is not None:
            row["new/other"] = row["steps/s"] / row["other steps/s"]
        if case in KERAS:
            row["keras fit steps/s"] = max(steps_per_second(ROOT, KERAS[case], steps, precision)
                                           for _ in range(repeats))
            row["ours/keras fit"] = row["steps/s"] / row["keras fit steps/s"]
        rows.append(row)
        print(pd.DataFrame([row]).to_string(index=False, float_format=lambda v: f"{v:.3f}"), flush=True)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ex1.enginebench", description=__doc__.split("\n\n")[0])
    p.add_argument("--against", type=Path, help="another checkout whose engine to time in the same run")
    p.add_argument("--steps", type=int, default=300, help="timed training steps per case (after 50 warm-up)")
    p.add_argument("--repeats", type=int, default=2, help="runs of each case; the best counts")
    p.add_argument("--precision", default="auto", help="auto, float32 or mixed_bfloat16")
    p.add_argument("--csv", default="enginebench.csv", help="where to write the table")
    p.add_argument("--only", default="", help="the cases whose name holds this text (e.g. packed)")
    args = p.parse_args(argv)
    from . import machine

    precision = machine.resolve_precision(args.precision)
    print(f"{machine.cpu_description()}; {precision}")
    df = run(args.against, args.steps, args.repeats, precision, args.only)
    pd.set_option("display.width", 200)
    print(df.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    df.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
