"""Sweep candidates, every seed of them, trained as one network in one compiled step.

ex1.packed shares a pack's first convolution but runs every other layer, loss and optimiser update model by
model, one pack per seed. For the sweeps' tiny networks those per-model calls, not the arithmetic, take the
time. Here the models become a few *stacks*: models whose layers differ only in width (same kernels,
strides, pools, activations), padded to the widest. A stack runs each layer as one op over all its members:
a grouped convolution (one group per model) or a batched matrix product (one batch entry per model). First
convolutions that read the same image are one wide convolution. Models of different seeds see different
batches (their own data order), so each seed is a *lane* with its own first convolution; after it, the
members of every lane share the stacks, since no op mixes two models.

Each model still trains exactly as it would alone, up to the order of floating-point additions:
- its weights start as its own builder makes them after resetting its seed, as a lone run's do;
- the loss is the sum of the models' losses, so each weight's gradient is its own model's gradient;
- padded weights start at zero, read zero inputs or feed zero weights, so their gradient is exactly zero
  and they stay zero: they never change a real unit;
- Adam updates each weight from its own gradient alone, with the optimiser a lone run uses
  (train._make_optimizer; its step count and rate are shared anyway).
tests/test_fused.py compares fused with lone runs.
Only chains of Conv2D, MaxPooling2D, Flatten and Dense layers without dropout, trained with Adam for a fixed
number of steps, are fused (layer_chain); the runner sends other runs to ex1.packed or ex1.train.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .train import (HISTORY_COLUMNS, TrainConfig, TrainResult, _Checkpoint, _fmt_seconds, _make_optimizer,
                    _quiet_retracing_warning,
                    batch_order, eval_batches, model_inputs, scores)

EVAL_IMAGES = 1000   # images per lane per inference call: the activations of every model stay small


def _activation(layer) -> str | None:
    name = getattr(layer.activation, "__name__", None)
    return name if name in ("relu", "linear") else None


def layer_chain(model) -> tuple | None:
    """The model as ((settings, width), ...) per layer, or None when this module cannot fuse it.

    settings hold everything but the width (a Conv2D's filters, a Dense layer's units): models whose
    settings agree layer by layer form one stack. A fusable model is a chain (each layer reads the
    previous one's output) of Conv2D and MaxPooling2D layers, a Flatten and Dense layers, in that order.
    """
    from keras import layers

    ls = model.layers
    if len(ls) < 3 or not isinstance(ls[0], layers.InputLayer) or len(model.input_shape) != 4:
        return None
    chain = []
    for prev, cur in zip(ls, ls[1:]):
        if cur.input is not prev.output:
            return None
        kind = type(cur)
        flat = any(s[0] in ("flatten", "dense") for s, _ in chain)
        if kind is layers.Conv2D and not flat:
            if (cur.groups != 1 or not cur.use_bias or cur.data_format != "channels_last"
                    or tuple(cur.dilation_rate) != (1, 1) or _activation(cur) is None):
                return None
            chain.append((("conv", tuple(cur.kernel_size), tuple(cur.strides), cur.padding, _activation(cur),
                           cur.dtype_policy.compute_dtype), int(cur.filters)))
        elif kind is layers.MaxPooling2D and chain and not flat:
            if cur.data_format != "channels_last":
                return None
            chain.append((("maxpool", tuple(cur.pool_size), tuple(cur.strides), cur.padding), None))
        elif kind is layers.Flatten and chain and not flat:
            chain.append((("flatten",), None))
        elif kind is layers.Dense and flat:
            if not cur.use_bias or _activation(cur) is None:
                return None
            chain.append((("dense", _activation(cur), cur.dtype_policy.compute_dtype), int(cur.units)))
        else:
            return None
    if chain[0][0][0] != "conv" or chain[-1][0][0] != "dense":
        return None
    return tuple(chain)


@dataclass
class _Stack:
    """Models whose layers agree in everything but width, as (lane, model index) pairs, lane by lane."""

    settings: tuple
    members: list[tuple[int, int]] = field(default_factory=list)
    widths: list[list[int | None]] = field(default_factory=list)   # per member, per layer

    def widest(self, layer: int) -> int:
        return max(w[layer] for w in self.widths)


def _weights(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel, bias) of each Conv2D and Dense layer, in order."""
    return [(layer.kernel.numpy(), layer.bias.numpy()) for layer in model.layers if hasattr(layer, "kernel")]


def train_fused(
    builders: Sequence[Sequence[Callable[[str | None], object]]],
    configs: Sequence[TrainConfig],
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    checkpoint_dir: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
    label: str = "",
    held_out: str = "test",
) -> list[list[TrainResult]]:
    """train.train for many models at once (see the module's docstring): builders[l] are the models of lane l,
    trained with configs[l]; the configurations may differ in their seed only. One TrainResult per builder,
    lane by lane.

    Each result's train_seconds is its share of the fused training time (the total divided by the number of
    models) and extra["packed_with"] the number of models trained together. With checkpoint_dir, the state of
    every model is saved at every evaluation point, and a later call with the same arguments resumes them all.
    """
    import keras
    import tensorflow as tf

    from .data import sample_indices

    if len(builders) != len(configs) or not all(builders):
        raise ValueError("every lane needs a configuration and at least one model")
    cfg = configs[0]
    if any(replace(c, seed=cfg.seed) != cfg for c in configs):
        raise ValueError("fused lanes may differ in their seed only")
    if cfg.optimizer != "adam" or cfg.stop_when_flat is not None or cfg.precision == "mixed_float16":
        raise ValueError("fused training is for Adam runs of a fixed number of steps in float32 or mixed_bfloat16")
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if y_train.ndim != 1:
        raise ValueError("fused training takes one label per image")
    tf.config.experimental.enable_op_determinism()
    policy = None if cfg.precision == "float32" else cfg.precision

    members: list[list[object]] = []
    for lane_cfg, lane in zip(configs, builders):
        models_ = []
        for build in lane:
            keras.utils.set_random_seed(lane_cfg.seed)   # each model starts exactly as it would alone
            models_.append(build(policy))
        members.append(models_)
    chains = [[layer_chain(m) for m in lane] for lane in members]
    if any(c is None for lane in chains for c in lane):
        raise ValueError("fused models must be chains of Conv2D, MaxPooling2D, Flatten and Dense layers")
    shapes = {tuple(m.input_shape[1:]) for lane in members for m in lane}
    if len(shapes) != 1:
        raise ValueError(f"fused models need one input shape, found {shapes}")
    L = len(members)

    # Stacks, and the first convolutions grouped by their settings (one wide convolution per group and lane).
    stacks: dict[tuple, _Stack] = {}
    for lane, lane_chains in enumerate(chains):
        for i, chain in enumerate(lane_chains):
            st = stacks.setdefault(tuple(s for s, _ in chain), _Stack(tuple(s for s, _ in chain)))
            st.members.append((lane, i))
            st.widths.append([w for _, w in chain])
    stacks_ = list(stacks.values())
    first: dict[tuple, list[_Stack]] = {}
    for st in stacks_:
        first.setdefault(st.settings[0], []).append(st)
    order = [(st, k) for st in stacks_ for k in range(len(st.members))]   # the logits' columns, as forward()
    position = {st.members[k]: t for t, (st, k) in enumerate(order)}  # member -> column of the logits
    member_lane = np.array([st.members[k][0] for st, k in order], dtype=np.int32)

    # The max pooling right after a stack's first convolution acts on each channel alone: it runs on each lane's
    # part before the lanes' parts are joined, and before the channels spread into padded slots. Every
    # convolution's pooling also runs before its bias and ReLU, which would otherwise act on maps up to 64 times
    # larger: adding a channel's bias and the ReLU are monotone, also after rounding, so they commute with the
    # maximum and the outputs are the same. Only a tie that the bias's rounding creates can send a pooling
    # gradient to another position of its window. (Shallow sweep's core, 3 seeds x 49 filters, pool 6,
    # bfloat16, 2-core AVX-512 machine: 3.7 against 4.8-5.5 ms a step; the whole shallow step 14.3 against 18.8.)
    leading = {}
    for s_id, st in enumerate(stacks_):
        n = 1
        while n < len(st.settings) and st.settings[n][0] == "maxpool":
            n += 1
        leading[s_id] = n
    # A stack of several widths spreads each member's channels into slots of the widest width. Where the leading
    # pools shrink the maps little, zero filters in the first kernel make the slots directly: a gather over the
    # channel axis and its gradient cost more than the extra filters (deep sweep, pool 2: 12.6-13.3 against
    # 15.3 ms a step on a 2-core AVX-512 machine in bfloat16). Behind a large pool the gather reads few values and wins
    # (shallow sweep, pools 3-8: 15.7 against 17.0 ms). The zero filters get a zero gradient (ReLU's is zero at
    # zero, and the next layer's weights for padded inputs are zero), so they stay zero, like every padded weight.
    padded_kernel = {id(st) for s_id, st in enumerate(stacks_) if len({w[0] for w in st.widths}) > 1
                     and np.prod([np.prod(s[2]) for s in st.settings[1: leading[s_id]]]) <= 4}

    def slot(st, width):
        """Channels a member of `st` takes in its lane's wide first convolution."""
        return st.widest(0) if id(st) in padded_kernel else width

    def variable(value, name):
        return tf.Variable(np.asarray(value, dtype=np.float32), name=name)

    # The first convolutions: per settings and lane, the members' kernels side by side, stack by stack.
    wide: dict[tuple, list[tuple]] = {}
    for sig, sts in first.items():
        per_lane = []
        for lane in range(L):
            ks, bs, split = [], [], []
            for st in sts:
                n = 0
                for (ln, i), w in zip(st.members, st.widths):
                    if ln == lane:
                        k, b = _weights(members[ln][i])[0]
                        extra = slot(st, w[0]) - w[0]
                        ks.append(np.concatenate([k, np.zeros((*k.shape[:-1], extra), np.float32)], axis=-1))
                        bs.append(np.concatenate([b, np.zeros(extra, np.float32)]))
                        n += slot(st, w[0])
                split.append(n)
            per_lane.append((variable(np.concatenate(ks, axis=-1), "wide_kernel") if ks else None,
                             variable(np.concatenate(bs), "wide_bias") if bs else None, split))
        wide[sig] = per_lane

    # Every later layer of a stack: one padded variable pair holding all members.
    stacked: dict[int, list[tuple]] = {}
    for s_id, st in enumerate(stacks_):
        M = len(st.members)
        params = [_weights(members[ln][i]) for ln, i in st.members]
        layers_ = []
        w_index = 0
        prev_width = [w[0] for w in st.widths]   # real channels entering each layer, per member
        prev_max = st.widest(0)
        spatial = None
        for j, (s, _) in enumerate(zip(st.settings, st.widths[0])):
            if j == 0:
                w_index = 1
                continue
            kind = s[0]
            if kind in ("conv", "dense"):
                out = [w[j] for w in st.widths]
                F = st.widest(j)
                if kind == "conv":
                    kh, kw = s[1]
                    K = np.zeros((kh, kw, prev_max, M * F), np.float32)
                    B = np.zeros(M * F, np.float32)
                    for m, p in enumerate(params):
                        k, b = p[w_index]
                        K[:, :, :prev_width[m], m * F: m * F + out[m]] = k
                        B[m * F: m * F + out[m]] = b
                elif st.settings[j - 1][0] == "flatten":
                    P = spatial
                    K = np.zeros((M, P, prev_max, F), np.float32)
                    B = np.zeros((M, F), np.float32)
                    for m, p in enumerate(params):
                        k, b = p[w_index]
                        K[m, :, :prev_width[m], :out[m]] = k.reshape(P, prev_width[m], out[m])
                        B[m, :out[m]] = b
                else:
                    K = np.zeros((M, prev_max, F), np.float32)
                    B = np.zeros((M, F), np.float32)
                    for m, p in enumerate(params):
                        k, b = p[w_index]
                        K[m, :prev_width[m], :out[m]] = k
                        B[m, :out[m]] = b
                layers_.append((variable(K, "stacked_kernel"), variable(B, "stacked_bias")))
                w_index += 1
                prev_width, prev_max = out, F
            else:
                layers_.append(None)
            if kind == "flatten":
                spatial = int(np.prod(members[st.members[0][0]][st.members[0][1]].layers[j + 1].input.shape[1:3]))
        stacked[s_id] = layers_

    kernels = ([k for per_lane in wide.values() for k, _, _ in per_lane if k is not None]
               + [pair[0] for layers_ in stacked.values() for pair in layers_ if pair is not None])
    variables = ([v for per_lane in wide.values() for k, b, _ in per_lane if k is not None for v in (k, b)]
                 + [v for layers_ in stacked.values() for pair in layers_ if pair is not None for v in pair])
    optimizer = _make_optimizer(cfg)   # a lone run's optimiser: the rounding of its updates, weight by weight
    optimizer.build(variables)
    state = SimpleNamespace(variables=variables)

    # Where each stack's real channels sit in its lanes' wide outputs, and how they spread into padded slots.
    pad_index = {}
    for s_id, st in enumerate(stacks_):
        real = [w[0] for w in st.widths]
        F = st.widest(0)
        if len(set(real)) > 1 and id(st) not in padded_kernel:
            offsets = np.cumsum([0] + real)
            idx = np.full(len(real) * F, offsets[-1], np.int32)   # the appended zero channel
            for m, r in enumerate(real):
                idx[m * F: m * F + r] = np.arange(offsets[m], offsets[m] + r)
            pad_index[s_id] = tf.constant(idx)

    def act(x, name):
        return tf.nn.relu(x) if name == "relu" else x

    def pools(x, settings):
        for s in settings:
            x = tf.nn.max_pool2d(x, list(s[1]), list(s[2]), s[3].upper())
        return x

    def forward(xs_by_lane):
        """Logits (n, models, classes) in float32, one column per member in `order`."""
        parts: dict[int, list] = {s_id: [] for s_id in range(len(stacks_))}
        for sig, per_lane in wide.items():
            _, ksize, strides, padding, activation, cd = sig
            for lane, (k, b, split) in enumerate(per_lane):
                if k is None:
                    continue
                y = tf.nn.conv2d(tf.cast(xs_by_lane[lane], cd), tf.cast(k, cd), strides=list(strides),
                                 padding=padding.upper())
                sts = first[sig]
                pieces = tf.split(y, split, axis=3) if len(sts) > 1 else [y]
                biases = tf.split(tf.cast(b, cd), split) if len(sts) > 1 else [tf.cast(b, cd)]
                for st, piece, bias, n in zip(sts, pieces, biases, split):
                    if n:
                        s_id = stacks_.index(st)
                        piece = pools(piece, st.settings[1: leading[s_id]])
                        parts[s_id].append(act(tf.nn.bias_add(piece, bias), activation))
        logits = []
        for s_id, st in enumerate(stacks_):
            x = parts[s_id][0] if len(parts[s_id]) == 1 else tf.concat(parts[s_id], axis=3)
            M, F = len(st.members), st.widest(0)
            if s_id in pad_index:   # each member's channels to its own slots, zeros after them
                x = tf.gather(tf.concat([x, tf.zeros_like(x[..., :1])], axis=3), pad_index[s_id], axis=3)
            flat = False
            applied = leading[s_id]   # the settings before this index have acted on x
            for j, s in enumerate(st.settings):
                kind = s[0]
                if j < applied:
                    continue
                if kind == "maxpool":
                    x = tf.nn.max_pool2d(x, list(s[1]), list(s[2]), s[3].upper())
                elif kind == "flatten":
                    shape = tf.shape(x)
                    x = tf.reshape(x, [shape[0], shape[1] * shape[2], M, F])
                    flat = True
                elif kind == "conv":
                    k, b = stacked[s_id][j - 1]
                    cd = s[5]
                    x = tf.nn.conv2d(tf.cast(x, cd), tf.cast(k, cd), strides=list(s[2]), padding=s[3].upper())
                    applied = j + 1
                    while applied < len(st.settings) and st.settings[applied][0] == "maxpool":
                        x = pools(x, [st.settings[applied]])   # before the bias and ReLU, as for the first layer
                        applied += 1
                    x = act(tf.nn.bias_add(x, tf.cast(b, cd)), s[4])
                    F = int(k.shape[-1]) // M
                else:
                    k, b = stacked[s_id][j - 1]
                    cd = s[2]
                    x, kc = tf.cast(x, cd), tf.cast(k, cd)
                    x = tf.einsum("npmc,mpcu->nmu", x, kc) if flat is True else tf.einsum("nmc,mcu->nmu", x, kc)
                    x = act(x + tf.cast(b, cd), s[1])
                    flat = "dense"
            logits.append(tf.cast(x, tf.float32))
        return logits[0] if len(logits) == 1 else tf.concat(logits, axis=1)

    n_train = len(x_train)
    b = min(cfg.batch_size, n_train)
    scale, image_shape = model_inputs(x_train)
    xs = tf.constant(x_train)
    ys = tf.constant(y_train.astype(np.int32))
    lanes_of = tf.constant(member_lane)
    _quiet_retracing_warning()

    @tf.function(input_signature=[tf.TensorSpec([L, None, b], tf.int32)])
    def train_block(orders):
        for step in tf.range(tf.shape(orders)[1]):
            idx = orders[:, step]
            xb = [scale(tf.gather(xs, idx[lane])) for lane in range(L)]
            labels = tf.gather(tf.transpose(tf.gather(ys, idx)), lanes_of, axis=1)   # (b, models)
            with tf.GradientTape() as tape:
                ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=forward(xb))
                loss = tf.reduce_sum(ce) / tf.cast(b, tf.float32)
                if cfg.weight_decay:
                    loss += cfg.weight_decay * tf.add_n([tf.reduce_sum(tf.square(k)) for k in kernels])
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables))
        return optimizer.iterations

    @tf.function(input_signature=[tf.TensorSpec([None, *image_shape], tf.float32)] * L)
    def logits_of(*xb):
        return forward(list(xb))

    # Each lane measures its own samples, drawn from its seed as a lone run draws them.
    eval_sets = []
    for c in configs:
        tr_idx = sample_indices(n_train, c.train_eval_size, c.seed + 1)
        te_idx = sample_indices(len(x_test), c.test_size, c.seed + 2)
        eval_sets.append(((x_train[tr_idx], y_train[tr_idx]), (x_test[te_idx], y_test[te_idx])))

    def evaluate(which: int) -> np.ndarray:
        """(member in `order`, [mean loss, accuracy])."""
        sets = [e[which] for e in eval_sets]
        n = len(sets[0][0])
        totals = np.zeros((len(order), 2))
        batches = [eval_batches(x, EVAL_IMAGES) for x, _ in sets]
        for chunks in zip(*batches):
            s = chunks[0][0]
            lg = logits_of(*[xb for _, xb in chunks]).numpy()
            for t, lane in enumerate(member_lane):
                totals[t] += scores(lg[:, t], sets[lane][1][s: s + EVAL_IMAGES])
        return totals / n

    ckpt = _Checkpoint(checkpoint_dir) if checkpoint_dir else None
    histories: list[list[dict]] = [[] for _ in order]
    start = 0
    if ckpt:
        restored = ckpt.restore(state, optimizer, runs=len(order), log=log, label=label)
        if restored:
            start, histories = restored
            log(f"{label}resuming all {len(order)} at step {start} of {cfg.steps}")
    resumed_from = start
    steps_per_epoch = n_train // b
    prior_wall = histories[0][-1]["wall_s"] if histories[0] else 0.0
    prior_train = histories[0][-1]["train_s"] * len(order) if histories[0] else 0.0
    t0 = time.perf_counter()
    train_s = prior_train

    def record(step):
        tr, te = evaluate(0), evaluate(1)
        for t, h in enumerate(histories):
            h.append({"step": step, "epoch": step / steps_per_epoch, "train_loss": tr[t, 0],
                      "train_accuracy": tr[t, 1], "test_loss": te[t, 0], "test_accuracy": te[t, 1],
                      "wall_s": prior_wall + time.perf_counter() - t0, "train_s": train_s / len(order),
                      "learning_rate": cfg.learning_rate_at(max(step - 1, 0))})
        done = step - resumed_from
        rate = done * b * len(order) / (train_s - prior_train) if done else float("nan")
        eta = (cfg.steps - step) * b * len(order) / rate if done else float("nan")
        log(f"{label}step {step:>6}/{cfg.steps} epoch {step / steps_per_epoch:6.2f}  {held_out} err "
            f"{100 * (1 - te[:, 1].max()):.2f}% to {100 * (1 - te[:, 1].min()):.2f}% over {len(order)} runs"
            + (f"  {rate:7.0f} img/s  ETA {_fmt_seconds(eta)}" if done else ""))

    points = cfg.eval_steps()
    if not histories[0]:
        record(0)
        if ckpt:
            ckpt.save(0, state, optimizer, histories)
    for a, z in zip(points[:-1], points[1:]):
        if z <= start:
            continue
        orders = tf.constant(np.stack([batch_order(n_train, c.batch_size, z, c.seed, start=a) for c in configs]))
        t = time.perf_counter()
        train_block(orders)
        train_s += time.perf_counter() - t
        record(z)
        if ckpt and z < cfg.steps:
            ckpt.save(z, state, optimizer, histories)

    # Each model gets its own weights back: its channels of the wide layer, its entry of every stacked one.
    for sig, per_lane in wide.items():
        for lane, (k, bias, split) in enumerate(per_lane):
            if k is None:
                continue
            k, bias, at = k.numpy(), bias.numpy(), 0
            for st in first[sig]:
                for (ln, i), w in zip(st.members, st.widths):
                    if ln == lane:
                        layer = next(x for x in members[ln][i].layers if hasattr(x, "kernel"))
                        layer.kernel.assign(k[..., at: at + w[0]])
                        layer.bias.assign(bias[at: at + w[0]])
                        at += slot(st, w[0])
    for s_id, st in enumerate(stacks_):
        M = len(st.members)
        for m, ((ln, i), widths) in enumerate(zip(st.members, st.widths)):
            own = [x for x in members[ln][i].layers if hasattr(x, "kernel")][1:]
            pairs = [p for p in stacked[s_id] if p is not None]
            real = [w for j, w in enumerate(widths) if j > 0 and w is not None]
            prev = widths[0]
            for layer, (k, bias), out, j in zip(own, pairs, real,
                                                 [j for j in range(1, len(widths)) if widths[j] is not None]):
                k, bias = k.numpy(), bias.numpy()
                if k.ndim == 4 and st.settings[j][0] == "conv":
                    F = k.shape[-1] // M
                    layer.kernel.assign(k[:, :, :prev, m * F: m * F + out])
                    layer.bias.assign(bias[m * F: m * F + out])
                elif k.ndim == 4:
                    layer.kernel.assign(k[m, :, :prev, :out].reshape(-1, out))
                    layer.bias.assign(bias[m, :out])
                else:
                    layer.kernel.assign(k[m, :prev, :out])
                    layer.bias.assign(bias[m, :out])
                prev = out
    share = (train_s - prior_train) / len(order)
    trained = cfg.steps - resumed_from
    results: list[list[TrainResult]] = []
    for lane, (c, lane_members) in enumerate(zip(configs, members)):
        results.append([TrainResult(history=pd.DataFrame(histories[position[(lane, i)]], columns=HISTORY_COLUMNS),
                                    model=m, config=c, train_seconds=train_s / len(order),
                                    images_per_second=trained * b / share if trained else float("nan"),
                                    resumed_from=resumed_from, extra={"packed_with": len(order)})
                        for i, m in enumerate(lane_members)])
    return results
