"""The model zoo: a registry of functional Keras builders, and per-layer parameter arithmetic."""

from __future__ import annotations

import inspect
import math
from typing import Callable

import pandas as pd

_REGISTRY: dict[str, Callable] = {}


def register(fn: Callable) -> Callable:
    """Register a builder under its function name; the name is what configs and the CLI use."""
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs):
    """Build a registered model; unknown names fail with the list of valid ones."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")
    return _REGISTRY[name](**kwargs)


def model_defaults(name: str) -> dict:
    """The builder's keyword defaults, so a run's config records every hyperparameter."""
    sig = inspect.signature(_REGISTRY[name])
    return {k: p.default for k, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}


# --------------------------------------------------------------------------- builders


def _pool(kind: str, name: str, dtype: str | None = None):
    from keras import layers

    if kind == "max":
        return layers.MaxPooling2D(2, name=name, dtype=dtype)
    if kind == "avg":
        return layers.AveragePooling2D(2, name=name, dtype=dtype)
    raise ValueError(f"pooling must be 'max' or 'avg', not {kind!r}")


@register
def huji_cnn(
    padding: str = "valid",          # the sheet: "other arguments should be left as default"
    activation: str | None = "relu",  # None gives the linear network of HUJI question 2
    pooling: str = "max",            # "avg" is the sheet's "uniform stride" pooling
    filters: tuple[int, int] = (32, 64),
    kernel_size: int = 5,
    dense_units: int = 1024,
    dropout: float = 0.0,            # Keras drop *rate* = 1 - keep_prob
    dropout_after: str = "fc1",      # "fc1": the tutorial's one dropout; "hidden": after every hidden layer
    input_shape: tuple[int, ...] = (28, 28, 1),
    num_classes: int = 10,
    dtype: str | None = None,        # a Keras dtype policy, e.g. "mixed_bfloat16"
    name: str = "huji_cnn",
):
    """The HUJI sheet's network: conv 5x5x32, pool 2x2, conv 5x5x64, pool 2x2, dense 1024, dense 10."""
    import keras
    from keras import layers

    from .layers import Dropout

    if dropout_after not in ("fc1", "hidden"):
        raise ValueError(f"dropout_after must be 'fc1' or 'hidden', not {dropout_after!r}")
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, kernel_size, padding=padding, activation=activation, name=f"conv{i}", dtype=dtype)(x)
        x = _pool(pooling, f"pool{i}", dtype)(x)
        if dropout and dropout_after == "hidden":
            x = Dropout(dropout, name=f"block{i}_dropout", dtype=dtype)(x)
    x = layers.Flatten(name="flatten", dtype=dtype)(x)
    x = layers.Dense(dense_units, activation=activation, name="fc1", dtype=dtype)(x)
    if dropout:
        x = Dropout(dropout, name="fc1_dropout", dtype=dtype)(x)
    # Logits in float32 whatever the policy: the softmax and loss need the range.
    outputs = layers.Dense(num_classes, name="logits", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


@register
def huji_cnn_same(**kwargs):
    """The same network with the 'same' padding of the TensorFlow tutorial the sheet starts from."""
    return huji_cnn(**{"padding": "same", "name": "huji_cnn_same", **kwargs})


@register
def huji_cnn_linear(**kwargs):
    """HUJI question 2: no ReLU, average instead of max pooling; an affine map of the input."""
    return huji_cnn(**{"activation": None, "pooling": "avg", "name": "huji_cnn_linear", **kwargs})


@register
def shallow_cnn(
    filters: int = 8,
    kernel_size: int = 5,
    strides: int = 1,
    pool: int = 2,                   # pooling window and stride; 1 means no pooling
    padding: str = "valid",
    input_shape: tuple[int, ...] = (28, 28, 1),
    num_classes: int = 10,
    dtype: str | None = None,
    name: str = "shallow_cnn",
):
    """One convolution (ReLU), optional max pooling, one fully connected layer to the logits."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, activation="relu",
                      name="conv1", dtype=dtype)(inputs)
    if pool > 1:
        x = layers.MaxPooling2D(pool, name="pool1", dtype=dtype)(x)
    x = layers.Flatten(name="flatten", dtype=dtype)(x)
    outputs = layers.Dense(num_classes, name="logits", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


@register
def softmax_regression(
    input_shape: tuple[int, ...] = (28, 28, 1),
    num_classes: int = 10,
    dtype: str | None = None,
    name: str = "softmax_regression",
):
    """Multinomial logistic regression on the raw pixels: the best any affine classifier can do."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Flatten(name="flatten")(inputs)
    outputs = layers.Dense(num_classes, name="logits", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


@register
def pair_cnn(
    head: str = "sum",               # "sum": 19 classes 0..18; "digits": two 10-way heads in one pass
    filters: tuple[int, int] = (32, 64),
    kernel_size: int = 5,
    dense_units: int = 256,
    dropout: float = 0.5,
    input_shape: tuple[int, ...] = (28, 56, 1),
    dtype: str | None = None,
    name: str | None = None,
):
    """HUJI question 5: two MNIST digits side by side; the sheet's conv-pool-conv-pool-dense trunk."""
    import keras
    from keras import layers

    from .layers import Dropout

    if head not in ("sum", "digits"):
        raise ValueError(f"head must be 'sum' or 'digits', not {head!r}")
    inputs = keras.Input(shape=input_shape, name="pair")
    x = inputs
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, kernel_size, activation="relu", name=f"conv{i}", dtype=dtype)(x)
        x = layers.MaxPooling2D(2, name=f"pool{i}", dtype=dtype)(x)
    x = layers.Flatten(name="flatten", dtype=dtype)(x)
    x = layers.Dense(dense_units, activation="relu", name="fc1", dtype=dtype)(x)
    if dropout:
        x = Dropout(dropout, name="fc1_dropout", dtype=dtype)(x)
    if head == "sum":
        outputs = layers.Dense(19, name="sum_logits", dtype="float32")(x)
    else:
        # One dense layer emits both digits' logits; shape (2, 10): a pair of labels per example.
        x = layers.Dense(20, name="digit_logits", dtype="float32")(x)
        outputs = layers.Reshape((2, 10), name="two_heads", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name or f"pair_cnn_{head}")


@register
def gap_cnn(
    filters: tuple[int, ...] = (16, 32, 64),
    kernel_sizes: tuple[int, ...] = (5, 3, 3),
    input_shape: tuple[int, ...] = (28, 28, 1),
    num_classes: int = 10,
    dtype: str | None = None,
    name: str = "gap_cnn",
):
    """The Tuebingen sheet's network: convs with 2x2 max pooling between, global average pooling, dense."""
    import keras
    from keras import layers

    if len(filters) != len(kernel_sizes):
        raise ValueError("filters and kernel_sizes must have the same length")
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, (f, k) in enumerate(zip(filters, kernel_sizes), start=1):
        if i > 1:
            x = layers.MaxPooling2D(2, name=f"pool{i - 1}", dtype=dtype)(x)
        x = layers.Conv2D(f, k, activation="relu", name=f"conv{i}", dtype=dtype)(x)
    # The mean over each map in float32: bfloat16 sums of many values lose their last digits.
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(num_classes, name="logits", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


@register
def bonn_cnn(
    filters: tuple[int, ...] = (32, 64, 64),
    kernel_size: int = 3,
    dense_units: int = 128,
    conv_dropout: float = 0.0,       # Keras rate after every pooling block (Bonn programming 3)
    dense_dropout: float = 0.0,      # Keras rate after the hidden dense layer
    shift: int = 0,                  # training only: random shifts of up to this many pixels, and mirroring
    input_shape: tuple[int, ...] = (28, 28, 1),
    num_classes: int = 10,
    dtype: str | None = None,
    name: str = "bonn_cnn",
):
    """The Bonn sheet's CNN: blocks of conv ('same') -> ReLU -> 2x2 max pool, stride 2; dense; dense.

    The same builder serves MNIST and CIFAR-10 (input_shape (32, 32, 3)), as the sheet asks. With
    shift > 0 the images are augmented while training (CIFAR-10 only: a mirrored digit is another symbol):
    mirrored left-right with probability 1/2 and moved by up to `shift` pixels each way, the uncovered
    border filled with zeros, as padding and random cropping do. Evaluation sees the images unchanged."""
    import keras
    from keras import layers

    from .layers import Dropout

    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    if shift:
        x = layers.RandomFlip("horizontal", name="mirror")(x)
        f = shift / input_shape[0]
        x = layers.RandomTranslation(f, f, fill_mode="constant", interpolation="nearest", name="shift")(x)
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(f, kernel_size, padding="same", activation="relu", name=f"conv{i}", dtype=dtype)(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"pool{i}", dtype=dtype)(x)
        if conv_dropout:
            x = Dropout(conv_dropout, name=f"block{i}_dropout", dtype=dtype)(x)
    x = layers.Flatten(name="flatten", dtype=dtype)(x)
    x = layers.Dense(dense_units, activation="relu", name="fc1", dtype=dtype)(x)
    if dense_dropout:
        x = Dropout(dense_dropout, name="fc1_dropout", dtype=dtype)(x)
    outputs = layers.Dense(num_classes, name="logits", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


# --------------------------------------------------------------------------- parameter arithmetic


def _shape(t) -> tuple[int, ...]:
    return tuple(int(d) for d in t.shape[1:])


def layer_arithmetic(layer) -> tuple[int, str, str]:
    """(parameters, plain-text formula, LaTeX formula) of one layer, from its hyperparameters.

    Derived from the layer's configuration and input shape, never from its weights, so that
    comparing with Keras's count_params() checks the arithmetic rather than repeating it.
    """
    from keras import layers

    if isinstance(layer, layers.Conv2D):
        kh, kw = layer.kernel_size
        cin = _shape(layer.input)[-1]
        cout = layer.filters
        bias = cout if layer.use_bias else 0
        n = kh * kw * cin * cout + bias
        return (n, f"{kh}*{kw}*{cin}*{cout} + {bias}",
                rf"{kh}\cdot{kw}\cdot{cin}\cdot{cout} + {bias}")
    if isinstance(layer, layers.Dense):
        nin = _shape(layer.input)[-1]
        bias = layer.units if layer.use_bias else 0
        n = nin * layer.units + bias
        return n, f"{nin}*{layer.units} + {bias}", rf"{nin}\cdot{layer.units} + {bias}"
    parameter_free = (layers.InputLayer, layers.MaxPooling2D, layers.AveragePooling2D, layers.Flatten,
                      layers.Dropout, layers.GlobalAveragePooling2D, layers.Activation, layers.Concatenate,
                      layers.Reshape, layers.Cropping2D, layers.Lambda, layers.RandomFlip, layers.RandomTranslation)
    if isinstance(layer, parameter_free):
        return 0, "0", "0"
    raise NotImplementedError(f"no parameter arithmetic for layer type {type(layer).__name__} ({layer.name})")


def _shape_rule(layer) -> str:
    """How the layer's output size follows from its input size (for the report's derivation)."""
    from keras import layers

    out = _shape(layer.output)
    if isinstance(layer, layers.Conv2D):
        n = _shape(layer.input)[0]
        k, s = layer.kernel_size[0], layer.strides[0]
        if layer.padding == "same":
            return f"same padding: ceil({n}/{s}) = {out[0]}" if s > 1 else f"same padding keeps {n}"
        return f"({n} - {k})/{s} + 1 = {out[0]}" if s > 1 else f"{n} - {k} + 1 = {out[0]}"
    if isinstance(layer, (layers.MaxPooling2D, layers.AveragePooling2D)):
        n = _shape(layer.input)[0]
        return f"floor({n}/{layer.pool_size[0]}) = {out[0]}"
    if isinstance(layer, layers.Flatten):
        return " * ".join(map(str, _shape(layer.input))) + f" = {out[0]}"
    return ""


def param_table(model) -> pd.DataFrame:
    """One row per layer: name, type, output shape, how the size follows, formula, parameters."""
    rows = []
    for layer in model.layers:
        n, formula, latex = layer_arithmetic(layer)
        out = _shape(layer.output)
        rows.append({
            "layer": layer.name,
            "type": type(layer).__name__,
            "output_shape": " x ".join(map(str, out)),
            "activations": math.prod(out),
            "size_rule": _shape_rule(layer),
            "formula": formula,
            "formula_tex": latex,
            "params": n,
        })
    return pd.DataFrame(rows)
