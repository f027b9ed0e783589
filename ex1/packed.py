"""Several runs of one data order trained together: one compiled step and one shared first convolution.

Small networks leave a CPU idle: a 5x5 convolution with 2 filters over a batch of 50 costs about as
much as one with 11 filters, because the time goes into the call, not the arithmetic. Runs with the
same training configuration (so the same seed, hence the same batches) and first convolutions of the
same shape are packed: their first-layer kernels are concatenated into one wide convolution, each run
takes its own channels of the result through its own remaining layers, and the loss is the sum of the
runs' losses. The gradient of that sum with respect to one run's weights is that run's own gradient,
and Adam, SGD and momentum update each weight from its own gradient alone (the step count and rate
are shared anyway), so every run trains as it would alone: its own initialisation (each model is
built after resetting the seed, as a lone run is), its own data order, optimiser state, rate and
dropout masks (each dropout layer draws from its own generator). Only the order of floating-point
additions inside the wide convolution differs. tests/test_packed.py compares packed with lone runs.
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .train import (EVAL_BATCH, HISTORY_COLUMNS, TrainConfig, TrainResult, _Checkpoint, _fmt_seconds,
                    _make_optimizer, _quiet_retracing_warning, batch_order, eval_batches, model_inputs, scores)


def first_conv_signature(model) -> tuple | None:
    """What runs must share to read one wide first convolution; None when the model is not a chain
    (input, a Conv2D, then layers that each read the previous one's output)."""
    from keras import layers

    ls = model.layers
    if len(ls) < 3 or not isinstance(ls[0], layers.InputLayer) or not isinstance(ls[1], layers.Conv2D):
        return None
    if any(cur.input is not prev.output for prev, cur in zip(ls[1:], ls[2:])):
        return None
    c = ls[1]
    if c.groups != 1 or not c.use_bias or c.data_format != "channels_last":
        return None
    return (tuple(model.input_shape[1:]), c.kernel_size, c.strides, c.padding, c.dilation_rate, c.dtype_policy.name,
            c.activation)


def train_packed(
    builders: Sequence[Callable[[str | None], object]],
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    cfg: TrainConfig,
    checkpoint_dir: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
    label: str = "",
    held_out: str = "test",
) -> list[TrainResult]:
    """train.train for several models at once (see the module's docstring); one TrainResult per builder.

    Each result's train_seconds is its share of the packed training time (the total divided by the
    number of runs), and its extra["packed_with"] says how many runs trained together. With
    checkpoint_dir, the state of every run is saved at every evaluation point, and a later call with
    the same arguments resumes them all.
    """
    import keras
    import tensorflow as tf

    if len(builders) < 2:
        raise ValueError("packing needs at least two models; train a single one with train.train")
    if cfg.stop_when_flat is not None:
        raise ValueError("packed runs train for a fixed number of steps: train runs that stop when flat one by one")
    if cfg.precision == "mixed_float16":
        raise ValueError("packed training does not scale the loss: train mixed_float16 runs one by one")
    tf.config.experimental.enable_op_determinism()
    policy = None if cfg.precision == "float32" else cfg.precision
    members = []
    for build in builders:
        keras.utils.set_random_seed(cfg.seed)   # each model starts exactly as it would alone
        members.append(build(policy))
    signatures = {first_conv_signature(m) for m in members}
    if None in signatures or len(signatures) != 1:
        raise ValueError(f"packed models need first convolutions of one shape, found {signatures}")
    convs = [m.layers[1] for m in members]
    widths = [int(c.filters) for c in convs]
    bounds = np.cumsum([0] + widths)
    wide_kernel = keras.Variable(np.concatenate([c.kernel.numpy() for c in convs], axis=-1), name="packed_kernel")
    wide_bias = keras.Variable(np.concatenate([c.bias.numpy() for c in convs]), name="packed_bias")
    rests = [m.layers[2:] for m in members]
    trainable = [wide_kernel, wide_bias] + [v for rest in rests for layer in rest for v in layer.trainable_variables]
    kernels = [wide_kernel] + [v for v in trainable[2:] if v.path.endswith("kernel")]
    optimizer = _make_optimizer(cfg)
    optimizer.build(trainable)
    # Everything a resumed run needs: the wide layer, every model's own variables (dropout seeds included).
    state = SimpleNamespace(variables=[wide_kernel, wide_bias] + [v for m in members for v in m.variables])

    from .data import sample_indices

    n_train = len(x_train)
    tr_idx = sample_indices(n_train, cfg.train_eval_size, cfg.seed + 1)
    te_idx = sample_indices(len(x_test), cfg.test_size, cfg.seed + 2)
    x_tr_eval, y_tr_eval = x_train[tr_idx], y_train[tr_idx]
    x_te_eval, y_te_eval = x_test[te_idx], y_test[te_idx]
    scale, image_shape = model_inputs(x_train)
    xs = tf.constant(x_train)
    ys = tf.constant(y_train.astype(np.int32))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    conv = convs[0]
    _quiet_retracing_warning()

    def forward(xb, training):
        cd = conv.compute_dtype
        y = tf.nn.convolution(tf.cast(xb, cd), tf.cast(wide_kernel, cd), strides=list(conv.strides),
                              padding=conv.padding.upper(), dilations=list(conv.dilation_rate))
        # The activation comes before the split: Grappler's arithmetic optimiser (TensorFlow 2.21) hoists
        # one elementwise op shared by every output of a split above it and then feeds the later layers
        # the wrong parts. A split, not slices: its gradient is one concatenation, where each slice's is
        # a padded copy of the whole layer.
        y = conv.activation(tf.nn.bias_add(y, tf.cast(wide_bias, cd)))
        outs = []
        for h, rest in zip(tf.split(y, widths, axis=3), rests):
            for layer in rest:
                h = layer(h, training=training)
            outs.append(tf.cast(h, tf.float32))
        return outs

    b = min(cfg.batch_size, n_train)

    @tf.function(input_signature=[tf.TensorSpec([None, b], tf.int32)])
    def train_block(order):
        for step in tf.range(tf.shape(order)[0]):
            idx = order[step]
            xb, yb = scale(tf.gather(xs, idx)), tf.gather(ys, idx)
            with tf.GradientTape() as tape:
                loss = tf.add_n([loss_fn(yb, out) for out in forward(xb, True)])
                if cfg.weight_decay:
                    loss += cfg.weight_decay * tf.add_n([tf.reduce_sum(tf.square(k)) for k in kernels])
            grads = tape.gradient(loss, trainable)
            optimizer.apply_gradients(zip(grads, trainable))
        return optimizer.iterations

    @tf.function(input_signature=[tf.TensorSpec([None, *image_shape], tf.float32)])
    def logits_of(xb):
        return forward(xb, False)

    def evaluate(x, y) -> np.ndarray:
        """(model, [mean loss, accuracy]) for every model."""
        totals = np.zeros((len(members), 2))
        batch = max(50, EVAL_BATCH // len(members))   # the wide layer's output of one batch stays small
        for s, xb in eval_batches(x, batch):
            for k, lg in enumerate(logits_of(xb)):
                totals[k] += scores(lg.numpy(), y[s: s + batch])
        return totals / len(x)

    ckpt = _Checkpoint(checkpoint_dir) if checkpoint_dir else None
    histories: list[list[dict]] = [[] for _ in members]
    start = 0
    if ckpt:
        restored = ckpt.restore(state, optimizer, runs=len(members), log=log, label=label)
        if restored:
            start, histories = restored
            log(f"{label}resuming all {len(members)} at step {start} of {cfg.steps}")
    resumed_from = start
    steps_per_epoch = n_train // b
    prior_wall = histories[0][-1]["wall_s"] if histories[0] else 0.0
    prior_train = histories[0][-1]["train_s"] * len(members) if histories[0] else 0.0
    t0 = time.perf_counter()
    train_s = prior_train

    def record(step):
        tr, te = evaluate(x_tr_eval, y_tr_eval), evaluate(x_te_eval, y_te_eval)
        for k, h in enumerate(histories):
            h.append({"step": step, "epoch": step / steps_per_epoch, "train_loss": tr[k, 0],
                      "train_accuracy": tr[k, 1], "test_loss": te[k, 0], "test_accuracy": te[k, 1],
                      "wall_s": prior_wall + time.perf_counter() - t0, "train_s": train_s / len(members),
                      "learning_rate": cfg.learning_rate_at(max(step - 1, 0))})
        done = step - resumed_from
        rate = done * b * len(members) / (train_s - prior_train) if done else float("nan")
        eta = (cfg.steps - step) * b * len(members) / rate if done else float("nan")
        log(f"{label}step {step:>6}/{cfg.steps} epoch {step / steps_per_epoch:6.2f}  {held_out} err "
            f"{100 * (1 - te[:, 1].max()):.2f}% to {100 * (1 - te[:, 1].min()):.2f}% over {len(members)} runs"
            + (f"  {rate:7.0f} img/s  ETA {_fmt_seconds(eta)}" if done else ""))

    points = cfg.eval_steps()
    if not histories[0]:
        record(0)
        if ckpt:
            ckpt.save(0, state, optimizer, histories)
    for a, z in zip(points[:-1], points[1:]):
        if z <= start:
            continue
        order = tf.constant(batch_order(n_train, cfg.batch_size, z, cfg.seed, start=a))
        t = time.perf_counter()
        train_block(order)
        train_s += time.perf_counter() - t
        record(z)
        if ckpt and z < cfg.steps:
            ckpt.save(z, state, optimizer, histories)

    for c, a, z in zip(convs, bounds[:-1], bounds[1:]):   # each model gets its own part of the wide layer back
        c.kernel.assign(wide_kernel[..., a:z])
        c.bias.assign(wide_bias[a:z])
    share = (train_s - prior_train) / len(members)
    trained = cfg.steps - resumed_from
    return [TrainResult(history=pd.DataFrame(h, columns=HISTORY_COLUMNS), model=m, config=cfg,
                        train_seconds=train_s / len(members),
                        images_per_second=trained * b / share if trained else float("nan"),
                        resumed_from=resumed_from, extra={"packed_with": len(members)})
            for m, h in zip(members, histories)]
