"""Numerical checks of the derivations: each returns a small table of what was compared and the error."""

from __future__ import annotations

import numpy as np
import pandas as pd


def conv1d_full(f: np.ndarray, g: np.ndarray) -> np.ndarray:
    """(f * g)[n] = sum_k f[k] g[n - k], written out (not np.convolve) so the check is independent."""
    out = np.zeros(len(f) + len(g) - 1)
    for n in range(len(out)):
        for k in range(len(f)):
            if 0 <= n - k < len(g):
                out[n] += f[k] * g[n - k]
    return out


def circular_conv(f: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Convolution on Z_N (periodic signals), where shifts are exact: (f * g)[n] = sum_k f[k] g[(n-k) mod N]."""
    n = len(f)
    return np.array([sum(f[k] * g[(m - k) % n] for k in range(n)) for m in range(n)])


def shift(x: np.ndarray, t: int) -> np.ndarray:
    """x[k + t] on Z_N."""
    return np.roll(x, -t)


def translation_equivariance(n: int = 32, shifts=(1, 3, 7), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f, g = rng.normal(size=n), rng.normal(size=n)
    base = circular_conv(f, g)
    rows = []
    for t in shifts:
        rows.append({"identity": "(f[k+t] * g[k])[n] = (f * g)[n+t]", "t": t,
                     "max_abs_error": float(np.abs(circular_conv(shift(f, t), g) - shift(base, t)).max())})
        rows.append({"identity": "(f[k] * g[k+t])[n] = (f * g)[n+t]", "t": t,
                     "max_abs_error": float(np.abs(circular_conv(f, shift(g, t)) - shift(base, t)).max())})
    return pd.DataFrame(rows)


def convolution_as_dot_products(n: int = 12, k: int = 4, seed: int = 0) -> pd.DataFrame:
    """(f * g)[m] = <f, S_m g~>: the dot product of the filter with the flipped signal shifted by m."""
    rng = np.random.default_rng(seed)
    f, g = rng.normal(size=k), rng.normal(size=n)
    full = conv1d_full(f, g)
    padded = np.concatenate([np.zeros(k - 1), g, np.zeros(k - 1)])
    dots = np.array([f @ padded[m: m + k][::-1] for m in range(n + k - 1)])
    return pd.DataFrame([{"signal_length": n, "filter_length": k, "outputs": len(full),
                          "max_abs_error": float(np.abs(dots - full).max())}])


def valid_output_lengths(pairs=((28, 5), (10, 3), (7, 7), (100, 1))) -> pd.DataFrame:
    """Output length of a 'valid' convolution, by formula and by TensorFlow and NumPy."""
    import tensorflow as tf

    rows = []
    for n, k in pairs:
        x = tf.random.normal((1, n, 1), seed=1)
        w = tf.random.normal((k, 1, 1), seed=2)
        rows.append({"n": n, "k": k, "formula n-k+1": n - k + 1,
                     "tf.nn.conv1d VALID": int(tf.nn.conv1d(x, w, 1, "VALID").shape[1]),
                     "np.convolve valid": len(np.convolve(np.ones(n), np.ones(k), mode="valid"))})
    return pd.DataFrame(rows)


def relu_dead_gradients(n: int = 20, k: int = 5, seed: int = 0) -> pd.DataFrame:
    """Gradients of F(ReLU(f * I + b)) w.r.t. f and b when every pre-activation is negative."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    image = tf.constant(rng.normal(size=(1, n, 1)), tf.float32)
    f = tf.Variable(rng.normal(size=(k, 1, 1)), dtype=tf.float32)
    w_next = tf.constant(rng.normal(size=(n - k + 1, 3)), tf.float32)
    rows = []
    for case, bias in (("all responses negative", -100.0), ("some responses positive", 0.0)):
        b = tf.Variable(bias)
        with tf.GradientTape() as tape:
            z = tf.nn.conv1d(image, f, 1, "VALID")[0, :, 0] + b
            loss = tf.reduce_sum(tf.tanh(tf.nn.relu(z)[None, :] @ w_next) ** 2) + 1.0  # any F
        gf, gb = tape.gradient(loss, [f, b])
        rows.append({"case": case, "max pre-activation": float(tf.reduce_max(z)),
                     "max |dL/df|": float(tf.reduce_max(tf.abs(gf))), "|dL/db|": float(tf.abs(gb))})
    return pd.DataFrame(rows)


def dead_unit_under_gradient_descent(steps: int = 200, seed: int = 0) -> pd.DataFrame:
    """Gradient descent on examples that all give negative responses leaves f and b exactly unchanged."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    images = tf.constant(np.abs(rng.normal(size=(64, 20, 1))), tf.float32)   # non-negative inputs
    f = tf.Variable(-np.abs(rng.normal(size=(5, 1, 1))), dtype=tf.float32)   # negative filter
    b = tf.Variable(-0.5)
    head = tf.Variable(rng.normal(size=(16, 1)), dtype=tf.float32)
    targets = tf.constant(rng.normal(size=(64, 1)), tf.float32)
    f0, b0 = f.numpy().copy(), float(b.numpy())
    opt = tf.keras.optimizers.SGD(0.1)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            h = tf.nn.relu(tf.nn.conv1d(images, f, 1, "VALID")[:, :, 0] + b)
            loss = tf.reduce_mean((h @ head - targets) ** 2)
        opt.apply_gradients(zip(tape.gradient(loss, [f, b, head]), [f, b, head]))
    return pd.DataFrame([{"steps": steps, "max |f - f0|": float(np.abs(f.numpy() - f0).max()),
                          "|b - b0|": abs(float(b.numpy()) - b0), "final loss": float(loss)}])


def conv_jacobian(signal: np.ndarray, k: int) -> np.ndarray:
    """d(f * I)/df for a 'valid' 1-D convolution y[n] = sum_j f[j] I[n + k - 1 - j]: J[n, j] = I[n + k - 1 - j]."""
    m = len(signal) - k + 1
    return np.array([[signal[n + k - 1 - j] for j in range(k)] for n in range(m)])


def jacobian_check(n: int = 10, k: int = 3, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """The explicit Jacobian against autodiff, and J^T delta against a correlation of I with delta."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    f = tf.Variable(rng.normal(size=k))
    sig = tf.constant(signal)
    with tf.GradientTape() as tape:
        # The convolution of the sheet (filter flipped), via TensorFlow's correlation.
        y = tf.nn.conv1d(sig[None, :, None], tf.reverse(f, [0])[:, None, None], 1, "VALID")[0, :, 0]
    auto = tape.jacobian(y, f).numpy()
    explicit = conv_jacobian(signal, k)
    delta = rng.normal(size=n - k + 1)
    via_matrix = explicit.T @ delta
    # sum_n delta[n] I[n + k - 1 - j]: a 'valid' correlation of I with delta, read backwards in j.
    via_correlation = np.correlate(signal, delta, mode="valid")[::-1]
    table = pd.DataFrame([
        {"check": "explicit J vs tf.GradientTape.jacobian", "shape": f"{explicit.shape[0]} x {explicit.shape[1]}",
         "max_abs_error": float(np.abs(explicit - auto).max())},
        {"check": "J^T delta vs correlation of I with delta", "shape": f"{k}",
         "max_abs_error": float(np.abs(via_matrix - via_correlation).max())},
    ])
    return table, explicit


def parameter_questions() -> pd.DataFrame:
    """HUJI theory 4: the counts by formula and by building the layer in Keras."""
    import keras

    conv = keras.layers.Conv2D(96, 5)
    conv.build((None, 32, 32, 3))
    dense = keras.layers.Dense(4 * 4 * 256)
    dense.build((None, 4 * 4 * 256))
    return pd.DataFrame([
        {"question": "4.1 conv, 96 filters 5x5 on RGB", "formula": "5*5*3*96 + 96",
         "by_formula": 5 * 5 * 3 * 96 + 96, "keras": conv.count_params()},
        {"question": "4.2 dense 4x4x256 -> 4x4x256", "formula": "4096*4096 + 4096",
         "by_formula": 4096 * 4096 + 4096, "keras": dense.count_params()},
    ])
