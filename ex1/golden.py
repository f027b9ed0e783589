"""The engine's version, and the short golden runs that hold every training layout to that version's numbers.

A training run's store key names ENGINE_VERSION instead of hashing the engine's source, so that a refactor
which changes no number retrains nothing in a user's store. Whether a change moved a number is decided here:
one short run per layout (a model alone, models packed on one first convolution, models fused into one
network) and per option the engine implements (schedules, momentum, weight decay, dropout, the flat-curve
stop, resuming, both CPU precisions) is digested bit for bit, and the digests are recorded per kernel kind
(TensorFlow and Keras versions, oneDNN or Eigen, the CPU's vector instructions) in GOLDEN_FILE.
tests/test_golden.py fails with "bump ENGINE_VERSION" when they move while the version stays.

    python -m ex1.golden            # the digests here, against the recorded ones
    python -m ex1.golden --record   # record this kernel kind's digests for ENGINE_VERSION

Record only from code whose numbers are those of ENGINE_VERSION: after bumping the version, or on a kernel
kind not recorded yet.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

# Bump when a change to the training engine (ex1.train, ex1.packed, ex1.fused, ex1.layers) changes any number
# a run produces, then record the golden digests again: every stored run then trains again.
ENGINE_VERSION = 1

# The engine modules' source hashes (ex1.codehash) when runs were keyed by them, at the last commit of engine
# version 1 that did so (efb72b7). A run stored then is read under its old key (ex1.runner.Context), since the
# golden digests show that version 1 still computes exactly what that source computed.
LEGACY_ENGINE_SOURCE = {
    1: {"ex1/train.py": "5149d5f89032f75b", "ex1/packed.py": "9da0513cc424ff8c", "ex1/layers.py": "f1c62b0d02f12e10",
        "ex1/fused.py": "e30544ccbb5a600a"},
}

GOLDEN_FILE = Path(__file__).resolve().parents[1] / "tests" / "golden_engine.json"
MEASURED = ["step", "epoch", "train_loss", "train_accuracy", "heldout_loss", "heldout_accuracy", "learning_rate"]


def kernel_kind() -> str:
    """What besides the engine decides the bits of a run: library versions, kernel family, vector instructions."""
    import keras
    import tensorflow as tf

    from . import machine

    isa = next((f for f in ("amx_bf16", "avx512_bf16", "avx512f", "avx2") if f in machine.cpu_flags()),
               machine.platform.machine() or "unknown")
    kernels = {True: "onednn", False: "eigen", None: "default"}[machine.onednn_enabled()]
    return f"tensorflow {tf.__version__}, keras {keras.__version__}, {kernels} kernels, {isa}"


def _data():
    """Learnable 28x28 uint8 images made here (no dataset needed): class c lights a block of its own."""
    def images(n, seed):
        rng = np.random.default_rng(seed)
        y = (np.arange(n) % 10).astype(np.uint8)
        rng.shuffle(y)
        x = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
        for c in range(10):
            r, col = divmod(c, 5)
            x[y == c, 2 + r * 14: 12 + r * 14, col * 5 + 1: col * 5 + 4] = 230
        return x, y

    return (*images(400, 1), *images(120, 2))


def _builder(name: str, **kw) -> Callable:
    from . import models

    return lambda dtype: models.create_model(name, **kw, **({"dtype": dtype} if dtype else {}))


def _digest(results) -> str:
    """sha256 of every measured history value and every final weight, run by run, bit for bit."""
    h = hashlib.sha256()
    for res in results:
        h.update(np.ascontiguousarray(res.history[MEASURED].to_numpy(np.float64)).tobytes())
        for v in res.model.variables:
            a = np.asarray(v.numpy())
            h.update(str((a.dtype, a.shape)).encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:20]


def _config(**kw):
    from .train import TrainConfig

    base = dict(steps=60, batch_size=20, eval_every=20, train_eval_size=200, test_size=None, seed=3)
    return TrainConfig(**{**base, **kw})


def cases() -> dict[str, Callable]:
    """name -> fn(checkpoint_dir, log) returning the TrainResults of one golden run."""
    from . import fused, packed, train

    deep = _builder("huji_cnn", filters=(4, 8), dense_units=24, dropout=0.5)
    shallow = [_builder("shallow_cnn", filters=f, pool=p) for f, p in ((3, 2), (5, 4))]
    sweep = [_builder("shallow_cnn", filters=2, pool=6), _builder("shallow_cnn", filters=4, pool=6),
             _builder("huji_cnn", filters=(2, 3), dense_units=8)]
    adam = _config(lr_boundaries=(40,), lr_values=(2e-3, 5e-4), weight_decay=1e-4)

    def alone(build, cfg):
        return lambda ckpt, log: [train.train(build, *_data(), cfg, checkpoint_dir=ckpt, log=log)]

    def packs(builds, cfg):
        return lambda ckpt, log: packed.train_packed(builds, *_data(), cfg, checkpoint_dir=ckpt, log=log)

    def fuses(lanes, configs):
        return lambda ckpt, log: [r for lane in fused.train_fused(lanes, configs, *_data(), checkpoint_dir=ckpt,
                                                                  log=log) for r in lane]

    return {
        "alone: adam, schedule, weight decay, dropout": alone(deep, adam),
        "alone: momentum, stop when flat": alone(shallow[0], _config(optimizer="momentum", learning_rate=0.02,
                                                                     steps=200, stop_when_flat=0.5)),
        "alone: sgd, mixed_bfloat16": alone(shallow[1], _config(optimizer="sgd", learning_rate=0.05,
                                                               precision="mixed_bfloat16")),
        "alone: mixed_float16, scaled loss": alone(shallow[0], _config(learning_rate=1e-3,
                                                                       precision="mixed_float16")),
        "packed: two first convolutions, weight decay": packs(
            [shallow[0], _builder("shallow_cnn", filters=4, pool=3)], _config(learning_rate=1e-3, weight_decay=1e-4)),
        "packed: dropout, mixed_bfloat16": packs(
            [deep, _builder("huji_cnn", filters=(3, 8), dense_units=16, dropout=0.5)],
            _config(learning_rate=1e-3, precision="mixed_bfloat16")),
        "fused: two seeds, stacks of two shapes": fuses([sweep, sweep[1:]], [adam, replace(adam, seed=4)]),
    }


class _Stop(Exception):
    pass


def _stop_after(step: int) -> Callable[[str], None]:
    """A training log that stops the run once the evaluation at `step` is logged (its checkpoint comes next)."""
    def log(line: str) -> None:
        if f"step {step:>6}/" in line:
            raise _Stop
    return log


def digests(names=None, resume: bool = False) -> dict[str, str]:
    """{case: digest} of the golden runs here. With resume, each run is stopped at its step-40 evaluation and
    resumed from the checkpoint of step 20, which must give the uninterrupted run's digest."""
    import keras

    out = {}
    for name, run in cases().items():
        if names is not None and name not in names:
            continue
        keras.backend.clear_session()
        if not resume:
            out[name] = _digest(run(None, lambda s: None))
            continue
        with tempfile.TemporaryDirectory() as d:
            try:
                run(d, _stop_after(40))
            except _Stop:
                pass
            out[name] = _digest(run(d, lambda s: None))
    return out


def recorded() -> dict:
    try:
        return json.loads(GOLDEN_FILE.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def record(found: dict[str, str]) -> None:
    data = recorded()
    data.setdefault(str(ENGINE_VERSION), {})[kernel_kind()] = found
    GOLDEN_FILE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ex1.golden", description=__doc__.split("\n\n")[0])
    p.add_argument("--record", action="store_true", help="record this kernel kind's digests for ENGINE_VERSION")
    args = p.parse_args(argv)
    found = digests()
    kind = kernel_kind()
    if args.record:
        record(found)
        print(f"recorded {len(found)} golden digests for engine version {ENGINE_VERSION} on {kind}")
        return 0
    want = recorded().get(str(ENGINE_VERSION), {}).get(kind)
    if want is None:
        print(f"no golden digests recorded for engine version {ENGINE_VERSION} on {kind}")
        return 1
    moved = [n for n in found if found[n] != want.get(n)]
    for n in found:
        print(f"{'MOVED' if n in moved else 'same '}  {n}")
    return 1 if moved else 0


if __name__ == "__main__":
    sys.exit(main())
