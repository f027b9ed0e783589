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

from typing import Callable, Sequence

import numpy as np

from . import loop
from .train import EVAL_BATCH, TrainConfig, TrainResult, _make_optimizer, _quiet_retracing_warning, model_inputs


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
    **options,
) -> list[TrainResult]:
    """train.train for several models at once (see the module's docstring); one TrainResult per builder.

    Each result's train_seconds is its share of the packed training time (the total divided by the
    number of runs), and its extra["trained_with"] says how many runs trained together. options are
    loop.run's (checkpoint_dir, log, label, held_out): with checkpoint_dir, the state of every run is saved
    at every evaluation point, and a later call with the same arguments resumes them all.
    """
    import tensorflow as tf

    if len(builders) < 2:
        raise ValueError("packing needs at least two models; train a single one with train.train")
    loop.check("packed", [cfg])
    tf.config.experimental.enable_op_determinism()
    layout = Packed(builders, cfg, x_train, y_train)
    return loop.run(layout, [cfg], x_train, y_train, x_test, y_test, **options)


class Packed:
    """Models of one lane on one wide first convolution, each through its own remaining layers, in one step."""

    lone = False

    def __init__(self, builders, cfg: TrainConfig, x_train: np.ndarray, y_train: np.ndarray):
        import keras
        import tensorflow as tf

        self.members = [loop.seeded(build, cfg.seed, cfg.precision) for build in builders]
        self.run_lanes = [0] * len(self.members)
        signatures = {first_conv_signature(m) for m in self.members}
        if None in signatures or len(signatures) != 1:
            raise ValueError(f"packed models need first convolutions of one shape, found {signatures}")
        self.convs = [m.layers[1] for m in self.members]
        self.widths = [int(c.filters) for c in self.convs]
        self.wide_kernel = keras.Variable(np.concatenate([c.kernel.numpy() for c in self.convs], axis=-1),
                                          name="packed_kernel")
        self.wide_bias = keras.Variable(np.concatenate([c.bias.numpy() for c in self.convs]), name="packed_bias")
        self.rests = [m.layers[2:] for m in self.members]
        trainable = [self.wide_kernel, self.wide_bias] + [v for rest in self.rests for layer in rest
                                                          for v in layer.trainable_variables]
        kernels = [self.wide_kernel] + [v for v in trainable[2:] if v.path.endswith("kernel")]
        self.optimizer = optimizer = _make_optimizer(cfg)
        optimizer.build(trainable)
        # Everything a resumed run needs: the wide layer, every model's own variables (dropout seeds included).
        self.variables = [self.wide_kernel, self.wide_bias] + [v for m in self.members for v in m.variables]
        scale, image_shape = model_inputs(x_train)
        xs, ys = tf.constant(x_train), tf.constant(y_train.astype(np.int32))
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        forward = self.forward
        _quiet_retracing_warning()
        b = min(cfg.batch_size, len(x_train))

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

        self._train_block, self._logits_of = train_block, logits_of

    def forward(self, xb, training):
        import tensorflow as tf

        conv = self.convs[0]
        cd = conv.compute_dtype
        y = tf.nn.convolution(tf.cast(xb, cd), tf.cast(self.wide_kernel, cd), strides=list(conv.strides),
                              padding=conv.padding.upper(), dilations=list(conv.dilation_rate))
        # The activation comes before the split: Grappler's arithmetic optimiser (TensorFlow 2.21) hoists
        # one elementwise op shared by every output of a split above it and then feeds the later layers
        # the wrong parts. A split, not slices: its gradient is one concatenation, where each slice's is
        # a padded copy of the whole layer.
        y = conv.activation(tf.nn.bias_add(y, tf.cast(self.wide_bias, cd)))
        outs = []
        for h, rest in zip(tf.split(y, self.widths, axis=3), self.rests):
            for layer in rest:
                h = layer(h, training=training)
            outs.append(tf.cast(h, tf.float32))
        return outs

    def train_block(self, orders: np.ndarray) -> None:
        import tensorflow as tf

        self._train_block(tf.constant(orders[0]))

    def evaluate(self, sets) -> np.ndarray:
        x, y = sets[0]
        batch = max(50, EVAL_BATCH // len(self.members))   # the wide layer's output of one batch stays small
        return loop.evaluate_in_batches(self._logits_of, x, y, len(self.members), batch)

    def models(self) -> list:
        """Each model with its own part of the wide layer back."""
        bounds = np.cumsum([0] + self.widths)
        for c, a, z in zip(self.convs, bounds[:-1], bounds[1:]):
            c.kernel.assign(self.wide_kernel[..., a:z])
            c.bias.assign(self.wide_bias[a:z])
        return self.members
