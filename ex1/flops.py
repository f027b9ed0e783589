"""Floating-point operations of a training run, from the shapes of its model: the basis of time estimates."""

from __future__ import annotations


def forward_flops(model) -> int:
    """Multiply-adds x 2 of the convolutions and dense layers, from their shapes."""
    return sum(layer_flops(layer) for layer in model.layers)


def layer_flops(layer) -> int:
    """Multiply-adds x 2 of one image through a convolution or dense layer (0 for pooling, reshapes and the rest)."""
    from keras import layers

    if isinstance(layer, layers.Conv2D):
        kh, kw = layer.kernel_size
        cin = int(layer.input.shape[-1])
        _, h, w, cout = (int(d) if d is not None else 1 for d in layer.output.shape)
        return 2 * kh * kw * cin * cout * h * w // max(1, getattr(layer, "groups", 1))
    if isinstance(layer, layers.Dense):
        return 2 * int(layer.input.shape[-1]) * layer.units
    return 0


def run_flops(fwd: int, cfg, train_examples: int, test_examples: int) -> tuple[float, float]:
    """(training FLOPs, evaluation FLOPs) of a run: a training step costs three forward passes per image
    (forward, and two backward products); each evaluation point runs the training sample and the test set."""
    points = len(cfg.eval_steps())
    n_train_eval = min(cfg.train_eval_size or train_examples, train_examples)
    n_test = min(cfg.test_size or test_examples, test_examples)
    train = cfg.steps * min(cfg.batch_size, train_examples) * 3 * fwd
    return float(train), float(points * (n_train_eval + n_test) * fwd)
