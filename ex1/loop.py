"""The one training loop: every way of laying models out (alone, packed, fused) trains through `run`.

The loop owns what every run shares: the data order of each step, the evaluation schedule and the samples
measured, checkpoints and their exact resume, the flat-curve stop, the history and the progress log, and the
timing. A layout holds only what differs: how its models are built into one compiled step, how one block of
steps trains, and how its runs' logits are scored. What each layout can train (optimisers, precisions, the flat
stop) is decided once, in `refusal`.

A *lane* is one data order (one seed); a layout trains one run per model, each in a lane. The lone layout has
one lane and one run; packed runs share one lane; fused runs of several seeds use one lane per seed.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Callable, Protocol, Sequence

import numpy as np
import pandas as pd

from .train import (EVAL_BATCH, FLAT_WINDOW, HISTORY_COLUMNS, TrainConfig, TrainResult, _Checkpoint, _fmt_seconds,
                    batch_order, eval_batches, is_flat, scores)


class Layout(Protocol):
    lone: bool                   # one model trained alone (its checkpoint and log lines say so)
    run_lanes: list[int]         # the lane of each run, in the order of the layout's histories
    variables: list              # what a checkpoint must hold to resume exactly (models' and layout's own)
    optimizer: object

    def train_block(self, orders: np.ndarray) -> None:
        """Train the steps of orders (lanes, steps, batch): indices into the training images."""

    def evaluate(self, sets: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """(run, [mean loss, accuracy]) on each lane's (images, labels)."""

    def models(self) -> list:
        """The trained Keras models, one per run, each holding its own weights."""


# What each layout cannot train, and why: decided here only (the layouts and ex1.runner ask `refusal`).
_LIMITS = {
    "packed": (("stop_when_flat", "packed runs train for a fixed number of steps: train runs that stop when flat "
                                  "one by one"),
               ("mixed_float16", "packed training does not scale the loss: train mixed_float16 runs one by one")),
    "fused": (("stop_when_flat", "fused training is for Adam runs of a fixed number of steps in float32 or "
                                 "mixed_bfloat16"),
              ("mixed_float16", "fused training is for Adam runs of a fixed number of steps in float32 or "
                                "mixed_bfloat16"),
              ("not adam", "fused training is for Adam runs of a fixed number of steps in float32 or "
                           "mixed_bfloat16"),
              # Several models fused share grouped convolutions, whose gradients TensorFlow computes on a CPU only
              # through oneDNN, which it uses for bfloat16 only where the CPU has it natively ("filter_size does not
              # have enough elements" elsewhere).
              ("emulated bfloat16", "fusing several models in mixed_bfloat16 needs a CPU with native bfloat16: "
                                    "train them one by one")),
}


def refusal(layout: str, cfg: TrainConfig, models: int = 1) -> str:
    """Why `layout` ('alone', 'packed' or 'fused') cannot train cfg for `models` models; '' when it can."""
    from .machine import has_native_bf16

    facts = {"stop_when_flat": cfg.stop_when_flat is not None, "mixed_float16": cfg.precision == "mixed_float16",
             "not adam": cfg.optimizer != "adam",
             "emulated bfloat16": models > 1 and cfg.precision == "mixed_bfloat16" and not has_native_bf16()}
    return next((why for fact, why in _LIMITS.get(layout, ()) if facts[fact]), "")


def check(layout: str, configs: Sequence[TrainConfig], models: int = 1) -> None:
    """ValueError unless every lane's configuration is the first's but for its seed, and the layout can train it."""
    if any(replace(c, seed=configs[0].seed) != configs[0] for c in configs):
        raise ValueError(f"{layout} lanes may differ in their seed only")
    why = refusal(layout, configs[0], models)
    if why:
        raise ValueError(why)


def seeded(build: Callable, seed: int, precision: str):
    """A model built as a lone run builds it: right after resetting every random generator to its seed."""
    import keras

    keras.utils.set_random_seed(seed)
    return build(None if precision == "float32" else precision)


def run(layout: Layout, configs: Sequence[TrainConfig], x_train: np.ndarray, y_train: np.ndarray,
        x_test: np.ndarray, y_test: np.ndarray, checkpoint_dir: str | os.PathLike | None = None,
        log: Callable[[str], None] = print, label: str = "", held_out: str = "test") -> list[TrainResult]:
    """Train layout's runs for configs[0].steps mini-batches (each lane in its own data order), evaluating every
    eval_every steps in inference mode; one TrainResult per run, in the layout's order. With checkpoint_dir the
    state at every evaluation point is saved there, and a later call with the same arguments resumes from it."""
    cfg = configs[0]
    k = len(layout.run_lanes)
    sets = _evaluation_sets(configs, x_train, y_train, x_test, y_test)
    ckpt = _Checkpoint(checkpoint_dir) if checkpoint_dir else None
    histories, start = _resume(ckpt, layout, k, cfg, log, label)
    clock = _Clock(histories, start, k)
    b = min(cfg.batch_size, len(x_train))
    progress = _Progress(layout, cfg, len(x_train) // b, b * k, held_out, label, log)

    def record(step):
        progress.record(histories, step, [layout.evaluate([s[0] for s in sets]), layout.evaluate([s[1] for s in sets])],
                        clock)
        if ckpt and step < cfg.steps:
            ckpt.save(step, _State(layout.variables), layout.optimizer, histories[0] if layout.lone else histories)

    if not histories[0]:   # a checkpoint at step 0 already holds the step-0 evaluation
        record(0)
    points = cfg.eval_steps()
    for a, z in zip(points[:-1], points[1:]):
        if layout.lone and is_flat(histories[0], cfg):   # checked first, so that a resumed flat run stops too
            log(f"{label}{held_out} accuracy flat over the last {FLAT_WINDOW} evaluations: "
                f"stopping at step {histories[0][-1]['step']} of at most {cfg.steps}")
            break
        if z <= start:
            continue
        orders = np.stack([batch_order(len(x_train), c.batch_size, z, c.seed, start=a) for c in configs])
        with clock.training():
            layout.train_block(orders)
        record(z)
    return _results(layout, configs, histories, clock, b)


class _State:
    """What a checkpoint reads its variables from (a model, or a layout's own and its models' variables)."""

    def __init__(self, variables):
        self.variables = variables


def _evaluation_sets(configs, x_train, y_train, x_test, y_test):
    """Per lane, the fixed training sample and held-out images measured at every evaluation, drawn from the
    lane's seed as a lone run draws them."""
    from .data import sample_indices  # local: keeps the import graph one-way and light

    out = []
    for c in configs:
        tr = sample_indices(len(x_train), c.train_eval_size, c.seed + 1)
        te = sample_indices(len(x_test), c.test_size, c.seed + 2)
        out.append(((x_train[tr], y_train[tr]), (x_test[te], y_test[te])))
    return out


def _resume(ckpt, layout, k, cfg, log, label) -> tuple[list[list[dict]], int]:
    """(histories so far, the step to go on from): from the checkpoint when one reads completely, else empty."""
    restored = ckpt.restore(_State(layout.variables), layout.optimizer, runs=None if layout.lone else k, log=log,
                            label=label) if ckpt else None
    if not restored:
        return [[] for _ in range(k)], 0
    start, history = restored
    log(f"{label}resuming at step {start} of {cfg.steps}" if layout.lone
        else f"{label}resuming all {k} at step {start} of {cfg.steps}")
    return ([history] if layout.lone else history), start


class _Clock:
    """Wall and training seconds of the whole command, continued across a resume; training time is the layout's
    total, each run's share being the total over the number of runs."""

    def __init__(self, histories, start, k):
        self.k, self.resumed_from = k, start
        last = histories[0][-1] if histories[0] else None
        self.prior_wall = last["wall_s"] if last else 0.0
        self.prior_train = last["train_s"] * k if last else 0.0
        self.train_s = self.prior_train
        self.t0 = time.perf_counter()

    def wall(self) -> float:
        return self.prior_wall + time.perf_counter() - self.t0

    def training(self):
        clock = self

        class _Span:
            def __enter__(self):
                self.t = time.perf_counter()

            def __exit__(self, *exc):
                clock.train_s += time.perf_counter() - self.t

        return _Span()

    def trained(self) -> float:
        return self.train_s - self.prior_train


class _Progress:
    """Appends each evaluation to the histories and logs one line about it."""

    def __init__(self, layout, cfg, steps_per_epoch, images_per_step, held_out, label, log):
        self.lone, self.cfg, self.per_epoch = layout.lone, cfg, steps_per_epoch
        self.images_per_step, self.held_out, self.label, self.log = images_per_step, held_out, label, log

    def record(self, histories, step, scores, clock):
        tr, te = scores
        cfg, k = self.cfg, len(histories)
        for r, h in enumerate(histories):
            h.append({"step": step, "epoch": step / self.per_epoch, "train_loss": tr[r, 0],
                      "train_accuracy": tr[r, 1], "heldout_loss": te[r, 0], "heldout_accuracy": te[r, 1],
                      "wall_s": clock.wall(), "train_s": clock.train_s / k,
                      "learning_rate": cfg.learning_rate_at(max(step - 1, 0))})
        done = step - clock.resumed_from
        rate = done * self.images_per_step / clock.trained() if done else float("nan")
        eta = (cfg.steps - step) * self.images_per_step / rate if done else float("nan")
        if self.lone:
            what = (f"train err {100 * (1 - tr[0, 1]):6.2f}%  {self.held_out} err {100 * (1 - te[0, 1]):6.2f}%")
        else:
            what = (f"{self.held_out} err {100 * (1 - te[:, 1].max()):.2f}% to {100 * (1 - te[:, 1].min()):.2f}% "
                    f"over {k} runs")
        sep = "  " if self.lone else " "
        self.log(f"{self.label}step {step:>6}/{cfg.steps} epoch {step / self.per_epoch:6.2f}{sep}{what}"
                 + (f"  {rate:7.0f} img/s  ETA {_fmt_seconds(eta)}" if done else ""))


def _results(layout, configs, histories, clock, b) -> list[TrainResult]:
    k = len(histories)
    steps = int(histories[0][-1]["step"]) - clock.resumed_from
    ips = steps * b * k / clock.trained() if steps else float("nan")
    extra = {} if layout.lone else {"trained_with": k}
    return [TrainResult(history=pd.DataFrame(h, columns=HISTORY_COLUMNS), model=m, config=configs[lane],
                        train_seconds=clock.train_s / k, images_per_second=ips, resumed_from=clock.resumed_from,
                        extra=dict(extra))
            for h, m, lane in zip(histories, layout.models(), layout.run_lanes)]


def evaluate_in_batches(logits_of: Callable, x: np.ndarray, y: np.ndarray, runs: int, batch: int) -> np.ndarray:
    """(run, [mean loss, accuracy]) of runs whose logits_of(images) gives one (n, classes) array per run."""
    totals = np.zeros((runs, 2))
    for s, xb in eval_batches(x, batch):
        for r, lg in enumerate(logits_of(xb)):
            totals[r] += scores(np.asarray(lg), y[s: s + batch])
    return totals / len(x)



class Alone:
    """One model in one compiled step: train.train's layout."""

    lone = True
    run_lanes = [0]

    def __init__(self, build: Callable, cfg: TrainConfig, x_train: np.ndarray, y_train: np.ndarray):
        import keras
        import tensorflow as tf

        from .train import _make_optimizer, _quiet_retracing_warning, model_inputs

        self.model = seeded(build, cfg.seed, cfg.precision)
        self.optimizer = _make_optimizer(cfg)
        self.optimizer.build(self.model.trainable_variables)
        self.variables = self.model.variables
        model, optimizer = self.model, self.optimizer
        scale, image_shape = model_inputs(x_train)
        xs, ys = tf.constant(x_train), tf.constant(y_train.astype(np.int32))
        kernels = [v for v in model.trainable_variables if v.path.endswith("kernel")]
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        _quiet_retracing_warning()

        # Fixed signatures: one trace per run, whatever the length of a block or of the last evaluation batch.
        @tf.function(input_signature=[tf.TensorSpec([None, min(cfg.batch_size, len(x_train))], tf.int32)])
        def train_block(order):
            # Many steps in one call: the Python loop costs nothing per step.
            for i in tf.range(tf.shape(order)[0]):
                idx = order[i]
                xb, yb = scale(tf.gather(xs, idx)), tf.gather(ys, idx)
                with tf.GradientTape() as tape:
                    logits = model(xb, training=True)
                    loss = loss_fn(yb, tf.cast(logits, tf.float32))
                    if cfg.weight_decay:
                        loss += cfg.weight_decay * tf.add_n([tf.reduce_sum(tf.square(k)) for k in kernels])
                    scaled = optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss
                grads = tape.gradient(scaled, model.trainable_variables)
                optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return optimizer.iterations

        @tf.function(input_signature=[tf.TensorSpec([None, *image_shape], tf.float32)])
        def logits_of(xb):
            return tf.cast(model(xb, training=False), tf.float32)

        self._train_block, self._logits_of = train_block, logits_of

    def train_block(self, orders: np.ndarray) -> None:
        import tensorflow as tf

        self._train_block(tf.constant(orders[0]))

    def evaluate(self, sets) -> np.ndarray:
        x, y = sets[0]
        return evaluate_in_batches(lambda xb: [self._logits_of(xb)], x, y, 1, EVAL_BATCH)

    def models(self) -> list:
        return [self.model]
