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
        {"check": "explicit J vs tf.GradientTape.jacobian", "shape": f"{explicit.shape[0]} × {explicit.shape[1]}",
         "max_abs_error": float(np.abs(explicit - auto).max())},
        {"check": "Jᵀδ vs the correlation of I with δ", "shape": f"{k}",
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
        {"question": "4.1 conv, 96 filters 5×5 on RGB", "formula": "5·5·3·96 + 96",
         "by_formula": 5 * 5 * 3 * 96 + 96, "keras": conv.count_params()},
        {"question": "4.2 dense 4×4×256 → 4×4×256", "formula": "4,096·4,096 + 4,096",
         "by_formula": 4096 * 4096 + 4096, "keras": dense.count_params()},
    ])


# --------------------------------------------------------------------------- 2-D convolution backprop

def correlate2d_valid(v: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Z[i, j] = sum_{k,l} V[i+k, j+l] K[k, l] (the Tuebingen sheet's formula; what frameworks call conv)."""
    kh, kw = k.shape
    out = np.zeros((v.shape[0] - kh + 1, v.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (v[i: i + kh, j: j + kw] * k).sum()
    return out


def convolve2d_full(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Full convolution: out[m, n] = sum_{i,j} a[i, j] k[m - i, n - j] (zero outside)."""
    out = np.zeros((a.shape[0] + k.shape[0] - 1, a.shape[1] + k.shape[1] - 1))
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[i: i + k.shape[0], j: j + k.shape[1]] += a[i, j] * k
    return out


def conv2d_backprop_check(size: int = 9, k: int = 3, seed: int = 0) -> pd.DataFrame:
    """dL/dK = V correlated with G, dL/dV = full convolution of G with K (= G padded, correlated with
    rot180(K)), against tf.GradientTape, for L = sum(G * Z) so that dL/dZ = G."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    v, kern = rng.normal(size=(size, size)), rng.normal(size=(k, k))
    g = rng.normal(size=(size - k + 1, size - k + 1))
    tv, tk = tf.Variable(v), tf.Variable(kern)
    with tf.GradientTape() as tape:
        z = tf.nn.conv2d(tv[None, :, :, None], tk[:, :, None, None], 1, "VALID")[0, :, :, 0]
        loss = tf.reduce_sum(z * g)
    auto_k, auto_v = (t.numpy() for t in tape.gradient(loss, [tk, tv]))
    z_np = correlate2d_valid(v, kern)
    dk = correlate2d_valid(v, g)                       # sum_ij G_ij V_{i+m, j+n}
    dv = convolve2d_full(g, kern)                      # sum_ij G_ij K_{m-i, n-j}
    gp = np.pad(g, k - 1)
    dv_rot = correlate2d_valid(gp, kern[::-1, ::-1])   # the rot180 form
    return pd.DataFrame([
        {"check": "forward: the sheet's sum vs tf.nn.conv2d", "max_abs_error": float(np.abs(z_np - z.numpy()).max())},
        {"check": "∂L/∂K = V correlated with ∂L/∂Z, vs autodiff", "max_abs_error": float(np.abs(dk - auto_k).max())},
        {"check": "∂L/∂V = full convolution of ∂L/∂Z with K, vs autodiff",
         "max_abs_error": float(np.abs(dv - auto_v).max())},
        {"check": "∂L/∂V = padded ∂L/∂Z correlated with K rotated by 180°", "max_abs_error": float(np.abs(dv_rot - auto_v).max())},
    ])


def weight_sharing_check(seed: int = 0) -> pd.DataFrame:
    """A tied weight's gradient is the sum of the gradients of its uses; one update keeps the tie."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(8, 3)))
    y = tf.constant(rng.normal(size=(8, 1)))
    w_free = tf.Variable(rng.normal(size=(3, 2)))
    w_out = tf.constant(rng.normal(size=(2, 1)))
    # Tie w[0,0] = w[1,1] = s: build the matrix from one shared scalar.
    s = tf.Variable(0.7, dtype=tf.float64)
    mask = tf.constant([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=tf.float64)

    def forward(w):
        return tf.reduce_mean((tf.tanh(x @ w) @ w_out - y) ** 2)

    with tf.GradientTape() as tape:
        w_tied = w_free * (1 - mask) + s * mask
        loss = forward(w_tied)
    g_s = float(tape.gradient(loss, s))
    with tf.GradientTape() as tape:
        w_untied = tf.Variable(w_tied)
        loss2 = forward(w_untied)
    g_w = tape.gradient(loss2, w_untied).numpy()
    summed = g_w[0, 0] + g_w[1, 1]
    lr = 0.1
    after = (w_tied.numpy() - lr * g_w)                      # unconstrained step breaks the tie
    tied_after = float(s.numpy()) - lr * summed              # constrained step moves both together
    return pd.DataFrame([
        {"quantity": "dL/ds by autodiff through the tie", "value": g_s},
        {"quantity": "sum of dL/dw over the tied positions", "value": float(summed)},
        {"quantity": "|difference|", "value": abs(g_s - float(summed))},
        {"quantity": "tie broken by an unconstrained step: |w00 - w11| after", "value": float(abs(after[0, 0] - after[1, 1]))},
        {"quantity": "shared value after a constrained step", "value": tied_after},
    ])


# --------------------------------------------------------------------------- layer sizes

def conv_layer_sizes(n: int = 21, c_in: int = 12, k: int = 7, c_out: int = 36) -> pd.DataFrame:
    """Tuebingen 3 (a)-(f), each by formula and by building the layer in Keras."""
    import keras

    def out_shape(**kw):
        layer = keras.layers.Conv2D(c_out, k, **kw)
        y = layer(np.zeros((1, n, n, c_in), dtype=np.float32))
        return layer, tuple(int(d) for d in y.shape[1:])

    conv, shape = out_shape()
    side = n - k + 1
    pad = (k - 1) // 2
    _, same_shape = out_shape(padding="same")
    padded = keras.layers.Conv2D(c_out, k)(np.zeros((1, n + 2 * pad, n + 2 * pad, c_in), dtype=np.float32))
    _, s2 = out_shape(strides=2)
    dense = keras.layers.Dense(side * side * c_out, use_bias=False)
    dense.build((None, n * n * c_in))
    return pd.DataFrame([
        {"part": "(a) output size, stride 1, no padding", "formula": f"{n} - {k} + 1 = {side}",
         "by_formula": f"{side} x {side}", "keras": f"{shape[0]} x {shape[1]}"},
        {"part": "(b) activations in the output", "formula": f"{side}*{side}*{c_out}",
         "by_formula": str(side * side * c_out), "keras": str(int(np.prod(shape)))},
        {"part": "(c) convolution weights (no biases)", "formula": f"{k}*{k}*{c_in}*{c_out}",
         "by_formula": str(k * k * c_in * c_out), "keras": str(int(np.prod(conv.kernel.shape)))},
        {"part": "(d) fully connected weights, same output", "formula": f"({n}*{n}*{c_in})*({side}*{side}*{c_out})",
         "by_formula": str(n * n * c_in * side * side * c_out), "keras": str(dense.count_params())},
        {"part": "(e) padding for the same size", "formula": f"({k} - 1)/2 = {pad} per side",
         "by_formula": str(pad), "keras": f"pad {pad}: {int(padded.shape[1])} x {int(padded.shape[2])}; "
                                          f"'same': {same_shape[0]} x {same_shape[1]}"},
        {"part": "(f) output size, stride 2, no padding", "formula": f"floor(({n} - {k})/2) + 1",
         "by_formula": f"{(n - k) // 2 + 1} x {(n - k) // 2 + 1}", "keras": f"{s2[0]} x {s2[1]}"},
    ])


def eth_parameter_ratios(m: int = 128, p: int = 5, channels: int = 3, kernels: int = 1) -> pd.DataFrame:
    """ETH series 5, solution 2: first-layer parameters (no biases) of a CNN whose K p x p kernels are
    shared over the channels, a locally connected layer with the same connections, and a fully
    connected layer with the same outputs; both readings of the garbled FC formula."""
    out = (m - p + 1) ** 2
    cnn = kernels * p * p
    lc = channels * kernels * p * p * out
    fc_a = channels * kernels * m * m * out          # 3 K m^2 (m-p+1)^2
    fc_b = channels ** 2 * kernels * m * m * out     # 9 K m^2 (m-p+1)^2 = (3 m^2 inputs) x (3 K (m-p+1)^2 outputs)
    return pd.DataFrame([
        {"quantity": "outputs 3K(m-p+1)^2", "value": channels * kernels * out},
        {"quantity": "CNN parameters K p^2", "value": cnn},
        {"quantity": "locally connected 3K p^2 (m-p+1)^2", "value": lc},
        {"quantity": "fully connected, reading 3K m^2 (m-p+1)^2", "value": fc_a},
        {"quantity": "fully connected, reading 9K m^2 (m-p+1)^2", "value": fc_b},
        {"quantity": "ratio CNN / locally connected", "value": cnn / lc},
        {"quantity": "ratio CNN / FC, reading 3K", "value": cnn / fc_a},
        {"quantity": "ratio CNN / FC, reading 9K", "value": cnn / fc_b},
    ])


def translation_2d_check(m: int = 12, n: int = 10, p: int = 1, q: int = 2, seed: int = 0) -> pd.DataFrame:
    """Shifting the image shifts the 'valid' output (away from the border); its size is (m-2p) x (n-2q)."""
    rng = np.random.default_rng(seed)
    f, k = rng.normal(size=(m, n)), rng.normal(size=(2 * p + 1, 2 * q + 1))
    out = correlate2d_valid(f, k)
    s, t = 2, 1
    shifted = np.zeros_like(f)
    shifted[s:, t:] = f[:-s, :-t]
    out_shifted = correlate2d_valid(shifted, k)
    err = np.abs(out_shifted[s:, t:] - out[:-s, :-t]).max()
    return pd.DataFrame([
        {"check": f"output size for a {m}x{n} image, {2 * p + 1}x{2 * q + 1} kernel",
         "expected": f"{m - 2 * p} x {n - 2 * q}", "measured": f"{out.shape[0]} x {out.shape[1]}", "max_abs_error": 0.0},
        {"check": f"shift by ({s}, {t}) commutes with the convolution", "expected": "0", "measured": "",
         "max_abs_error": float(err)},
    ])
