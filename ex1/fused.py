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

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from . import loop
from .train import TrainConfig, TrainResult, _make_optimizer, _quiet_retracing_warning, eval_batches, model_inputs, scores

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
    **options,
) -> list[list[TrainResult]]:
    """train.train for many models at once (see the module's docstring): builders[l] are the models of lane l,
    trained with configs[l]; the configurations may differ in their seed only. One TrainResult per builder,
    lane by lane.

    Each result's train_seconds is its share of the fused training time (the total divided by the number of
    models) and extra["trained_with"] the number of models trained together. options are loop.run's
    (checkpoint_dir, log, label, held_out): with checkpoint_dir, the state of every model is saved at every
    evaluation point, and a later call with the same arguments resumes them all.
    """
    import tensorflow as tf

    if len(builders) != len(configs) or not all(builders):
        raise ValueError("every lane needs a configuration and at least one model")
    loop.check("fused", configs, models=sum(len(b) for b in builders))
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if y_train.ndim != 1:
        raise ValueError("fused training takes one label per image")
    tf.config.experimental.enable_op_determinism()
    layout = Fused(builders, configs, x_train, y_train)
    results = loop.run(layout, configs, x_train, y_train, x_test, y_test, **options)
    return [[results[layout.position[(lane, i)]] for i in range(len(lane_members))]
            for lane, lane_members in enumerate(layout.members)]


class Fused:
    """Every lane's models as stacks of one network, trained in one compiled step (see the module's docstring)."""

    lone = False

    def __init__(self, builders, configs: Sequence[TrainConfig], x_train: np.ndarray, y_train: np.ndarray):
        cfg = configs[0]
        self.members = [[loop.seeded(build, c.seed, cfg.precision) for build in lane]
                        for c, lane in zip(configs, builders)]
        chains = [[layer_chain(m) for m in lane] for lane in self.members]
        if any(c is None for lane in chains for c in lane):
            raise ValueError("fused models must be chains of Conv2D, MaxPooling2D, Flatten and Dense layers")
        shapes = {tuple(m.input_shape[1:]) for lane in self.members for m in lane}
        if len(shapes) != 1:
            raise ValueError(f"fused models need one input shape, found {shapes}")
        self.L = len(self.members)
        self._plan(chains)
        self.wide = self._wide_first()
        self.stacked = {s_id: self._stacked_layers(st) for s_id, st in enumerate(self.stacks)}
        kernels = ([k for per_lane in self.wide.values() for k, _, _ in per_lane if k is not None]
                   + [pair[0] for layers_ in self.stacked.values() for pair in layers_ if pair is not None])
        self.variables = ([v for per_lane in self.wide.values() for k, b, _ in per_lane if k is not None
                           for v in (k, b)]
                          + [v for layers_ in self.stacked.values() for pair in layers_ if pair is not None
                             for v in pair])
        self.optimizer = _make_optimizer(cfg)   # a lone run's optimiser: the rounding of its updates, weight by weight
        self.optimizer.build(self.variables)
        self.pad_index = self._pad_index()
        self._compile(cfg, kernels, x_train, y_train)

    def _plan(self, chains) -> None:
        """The stacks, the first convolutions grouped by their settings, each member's column of the logits, and
        how each stack's leading pools and padded slots are laid out."""
        stacks: dict[tuple, _Stack] = {}
        for lane, lane_chains in enumerate(chains):
            for i, chain in enumerate(lane_chains):
                st = stacks.setdefault(tuple(s for s, _ in chain), _Stack(tuple(s for s, _ in chain)))
                st.members.append((lane, i))
                st.widths.append([w for _, w in chain])
        self.stacks = list(stacks.values())
        self.first: dict[tuple, list[_Stack]] = {}
        for st in self.stacks:
            self.first.setdefault(st.settings[0], []).append(st)
        self.order = [(st, k) for st in self.stacks for k in range(len(st.members))]   # the logits' columns
        self.position = {st.members[k]: t for t, (st, k) in enumerate(self.order)}  # member -> column of the logits
        self.run_lanes = [st.members[k][0] for st, k in self.order]
        # The max pooling right after a stack's first convolution acts on each channel alone: it runs on each
        # lane's part before the lanes' parts are joined, and before the channels spread into padded slots. Every
        # convolution's pooling also runs before its bias and ReLU, which would otherwise act on maps up to 64
        # times larger: adding a channel's bias and the ReLU are monotone, also after rounding, so they commute
        # with the maximum and the outputs are the same. Only a tie that the bias's rounding creates can send a
        # pooling gradient to another position of its window. (Shallow sweep's core, 3 seeds x 49 filters, pool 6,
        # bfloat16, 2-core AVX-512 machine: 3.7 against 4.8-5.5 ms a step; the whole shallow step 14.3 against
        # 18.8.)
        self.leading = {}
        for s_id, st in enumerate(self.stacks):
            n = 1
            while n < len(st.settings) and st.settings[n][0] == "maxpool":
                n += 1
            self.leading[s_id] = n
        # A stack of several widths spreads each member's channels into slots of the widest width. Where the
        # leading pools shrink the maps little, zero filters in the first kernel make the slots directly: a gather
        # over the channel axis and its gradient cost more than the extra filters (deep sweep, pool 2: 12.6-13.3
        # against 15.3 ms a step on a 2-core AVX-512 machine in bfloat16). Behind a large pool the gather reads
        # few values and wins (shallow sweep, pools 3-8: 15.7 against 17.0 ms). The zero filters get a zero
        # gradient (ReLU's is zero at zero, and the next layer's weights for padded inputs are zero), so they stay
        # zero, like every padded weight.
        self.padded_kernel = {id(st) for s_id, st in enumerate(self.stacks) if len({w[0] for w in st.widths}) > 1
                              and np.prod([np.prod(s[2]) for s in st.settings[1: self.leading[s_id]]]) <= 4}

    def slot(self, st: _Stack, width: int) -> int:
        """Channels a member of `st` takes in its lane's wide first convolution."""
        return st.widest(0) if id(st) in self.padded_kernel else width

    def _wide_first(self) -> dict[tuple, list[tuple]]:
        """Per first-layer settings and lane, the members' kernels side by side, stack by stack."""
        wide: dict[tuple, list[tuple]] = {}
        for sig, sts in self.first.items():
            per_lane = []
            for lane in range(self.L):
                ks, bs, split = [], [], []
                for st in sts:
                    n = 0
                    for (ln, i), w in zip(st.members, st.widths):
                        if ln == lane:
                            k, b = _weights(self.members[ln][i])[0]
                            extra = self.slot(st, w[0]) - w[0]
                            ks.append(np.concatenate([k, np.zeros((*k.shape[:-1], extra), np.float32)], axis=-1))
                            bs.append(np.concatenate([b, np.zeros(extra, np.float32)]))
                            n += self.slot(st, w[0])
                    split.append(n)
                per_lane.append((_variable(np.concatenate(ks, axis=-1), "wide_kernel") if ks else None,
                                 _variable(np.concatenate(bs), "wide_bias") if bs else None, split))
            wide[sig] = per_lane
        return wide

    def _stacked_layers(self, st: _Stack) -> list[tuple | None]:
        """Every later layer of a stack: one padded variable pair holding all members (None for a pool or
        flatten)."""
        M = len(st.members)
        params = [_weights(self.members[ln][i]) for ln, i in st.members]
        layers_ = []
        w_index = 1
        prev_width = [w[0] for w in st.widths]   # real channels entering each layer, per member
        prev_max = st.widest(0)
        spatial = None
        for j, s in enumerate(st.settings):
            if j == 0:
                continue
            kind = s[0]
            if kind in ("conv", "dense"):
                out = [w[j] for w in st.widths]
                F = st.widest(j)
                K, B = _padded(kind, st.settings[j - 1][0] == "flatten", s, M, F, prev_max, spatial, params,
                               w_index, prev_width, out)
                layers_.append((_variable(K, "stacked_kernel"), _variable(B, "stacked_bias")))
                w_index += 1
                prev_width, prev_max = out, F
            else:
                layers_.append(None)
            if kind == "flatten":
                first = self.members[st.members[0][0]][st.members[0][1]]
                spatial = int(np.prod(first.layers[j + 1].input.shape[1:3]))
        return layers_

    def _pad_index(self) -> dict:
        """Where each stack's real channels sit in its lanes' wide outputs, and how they spread into padded
        slots."""
        import tensorflow as tf

        pad_index = {}
        for s_id, st in enumerate(self.stacks):
            real = [w[0] for w in st.widths]
            F = st.widest(0)
            if len(set(real)) > 1 and id(st) not in self.padded_kernel:
                offsets = np.cumsum([0] + real)
                idx = np.full(len(real) * F, offsets[-1], np.int32)   # the appended zero channel
                for m, r in enumerate(real):
                    idx[m * F: m * F + r] = np.arange(offsets[m], offsets[m] + r)
                pad_index[s_id] = tf.constant(idx)
        return pad_index

    def _first_layers(self, xs_by_lane) -> dict[int, list]:
        """Each stack's parts after its first convolution, its leading pools, bias and activation, lane by lane."""
        import tensorflow as tf

        parts: dict[int, list] = {s_id: [] for s_id in range(len(self.stacks))}
        for sig, per_lane in self.wide.items():
            _, ksize, strides, padding, activation, cd = sig
            for lane, (k, b, split) in enumerate(per_lane):
                if k is None:
                    continue
                y = tf.nn.conv2d(tf.cast(xs_by_lane[lane], cd), tf.cast(k, cd), strides=list(strides),
                                 padding=padding.upper())
                sts = self.first[sig]
                pieces = tf.split(y, split, axis=3) if len(sts) > 1 else [y]
                biases = tf.split(tf.cast(b, cd), split) if len(sts) > 1 else [tf.cast(b, cd)]
                for st, piece, bias, n in zip(sts, pieces, biases, split):
                    if n:
                        s_id = self.stacks.index(st)
                        piece = _pools(piece, st.settings[1: self.leading[s_id]])
                        parts[s_id].append(_act(tf.nn.bias_add(piece, bias), activation))
        return parts

    def forward(self, xs_by_lane):
        """Logits (n, models, classes) in float32, one column per member in `order`."""
        import tensorflow as tf

        parts = self._first_layers(xs_by_lane)
        logits = []
        for s_id, st in enumerate(self.stacks):
            x = parts[s_id][0] if len(parts[s_id]) == 1 else tf.concat(parts[s_id], axis=3)
            if s_id in self.pad_index:   # each member's channels to its own slots, zeros after them
                x = tf.gather(tf.concat([x, tf.zeros_like(x[..., :1])], axis=3), self.pad_index[s_id], axis=3)
            logits.append(tf.cast(self._later_layers(s_id, st, x), tf.float32))
        return logits[0] if len(logits) == 1 else tf.concat(logits, axis=1)

    def _later_layers(self, s_id: int, st: _Stack, x):
        """A stack's layers after its first convolution and leading pools, on its padded channels."""
        import tensorflow as tf

        M, F = len(st.members), st.widest(0)
        flat = False
        applied = self.leading[s_id]   # the settings before this index have acted on x
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
                k, b = self.stacked[s_id][j - 1]
                cd = s[5]
                x = tf.nn.conv2d(tf.cast(x, cd), tf.cast(k, cd), strides=list(s[2]), padding=s[3].upper())
                applied = j + 1
                while applied < len(st.settings) and st.settings[applied][0] == "maxpool":
                    x = _pools(x, [st.settings[applied]])   # before the bias and ReLU, as for the first layer
                    applied += 1
                x = _act(tf.nn.bias_add(x, tf.cast(b, cd)), s[4])
                F = int(k.shape[-1]) // M
            else:
                k, b = self.stacked[s_id][j - 1]
                cd = s[2]
                x, kc = tf.cast(x, cd), tf.cast(k, cd)
                x = tf.einsum("npmc,mpcu->nmu", x, kc) if flat is True else tf.einsum("nmc,mcu->nmu", x, kc)
                x = _act(x + tf.cast(b, cd), s[1])
                flat = "dense"
        return x

    def _compile(self, cfg: TrainConfig, kernels, x_train: np.ndarray, y_train: np.ndarray) -> None:
        import tensorflow as tf

        L, b = self.L, min(cfg.batch_size, len(x_train))
        scale, image_shape = model_inputs(x_train)
        xs, ys = tf.constant(x_train), tf.constant(y_train.astype(np.int32))
        lanes_of = tf.constant(np.array(self.run_lanes, dtype=np.int32))
        forward, optimizer, variables = self.forward, self.optimizer, self.variables
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

        self._train_block, self._logits_of = train_block, logits_of

    def train_block(self, orders: np.ndarray) -> None:
        import tensorflow as tf

        self._train_block(tf.constant(orders))

    def evaluate(self, sets) -> np.ndarray:
        """(member in `order`, [mean loss, accuracy]) on each lane's own sample."""
        n = len(sets[0][0])
        totals = np.zeros((len(self.order), 2))
        for chunks in zip(*[eval_batches(x, EVAL_IMAGES) for x, _ in sets]):
            s = chunks[0][0]
            lg = self._logits_of(*[xb for _, xb in chunks]).numpy()
            for t, lane in enumerate(self.run_lanes):
                totals[t] += scores(lg[:, t], sets[lane][1][s: s + EVAL_IMAGES])
        return totals / n

    def models(self) -> list:
        """Each model with its own weights back (its channels of the wide layer, its entry of every stacked one),
        in the order of the logits' columns."""
        for sig, per_lane in self.wide.items():
            for lane, (k, bias, split) in enumerate(per_lane):
                if k is not None:
                    self._unpack_first(sig, lane, k.numpy(), bias.numpy())
        for s_id, st in enumerate(self.stacks):
            for m, ((ln, i), widths) in enumerate(zip(st.members, st.widths)):
                self._unpack_stacked(s_id, st, m, self.members[ln][i], widths)
        return [self.members[ln][i] for st, k in self.order for ln, i in [st.members[k]]]

    def _unpack_first(self, sig, lane: int, k: np.ndarray, bias: np.ndarray) -> None:
        at = 0
        for st in self.first[sig]:
            for (ln, i), w in zip(st.members, st.widths):
                if ln == lane:
                    layer = next(x for x in self.members[ln][i].layers if hasattr(x, "kernel"))
                    layer.kernel.assign(k[..., at: at + w[0]])
                    layer.bias.assign(bias[at: at + w[0]])
                    at += self.slot(st, w[0])

    def _unpack_stacked(self, s_id: int, st: _Stack, m: int, model, widths) -> None:
        M = len(st.members)
        own = [x for x in model.layers if hasattr(x, "kernel")][1:]
        pairs = [p for p in self.stacked[s_id] if p is not None]
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


def _variable(value, name):
    import tensorflow as tf

    return tf.Variable(np.asarray(value, dtype=np.float32), name=name)


def _padded(kind, after_flatten, s, M, F, prev_max, spatial, params, w_index, prev_width, out):
    """The zero-padded (kernel, bias) of one stacked layer: each member's own weights in its slots."""
    if kind == "conv":
        kh, kw = s[1]
        K = np.zeros((kh, kw, prev_max, M * F), np.float32)
        B = np.zeros(M * F, np.float32)
        for m, p in enumerate(params):
            k, b = p[w_index]
            K[:, :, :prev_width[m], m * F: m * F + out[m]] = k
            B[m * F: m * F + out[m]] = b
    elif after_flatten:
        K = np.zeros((M, spatial, prev_max, F), np.float32)
        B = np.zeros((M, F), np.float32)
        for m, p in enumerate(params):
            k, b = p[w_index]
            K[m, :, :prev_width[m], :out[m]] = k.reshape(spatial, prev_width[m], out[m])
            B[m, :out[m]] = b
    else:
        K = np.zeros((M, prev_max, F), np.float32)
        B = np.zeros((M, F), np.float32)
        for m, p in enumerate(params):
            k, b = p[w_index]
            K[m, :prev_width[m], :out[m]] = k
            B[m, :out[m]] = b
    return K, B


def _act(x, name):
    import tensorflow as tf

    return tf.nn.relu(x) if name == "relu" else x


def _pools(x, settings):
    import tensorflow as tf

    for s in settings:
        x = tf.nn.max_pool2d(x, list(s[1]), list(s[2]), s[3].upper())
    return x
