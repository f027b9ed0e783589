"""ex1.layers.Dropout: Keras's dropout with a mask drawn from 8 or 16 random bits per unit."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ex1.layers import Dropout


def _sample(rate, dtype=None, shape=(2000, 2048), seed=0):
    keras.utils.set_random_seed(seed)
    layer = Dropout(rate, dtype=dtype)
    x = tf.ones(shape)
    return layer, layer(x, training=True).numpy()


@pytest.mark.parametrize("rate", [0.1, 0.25, 0.5, 0.65])
@pytest.mark.parametrize("dtype", [None, "mixed_bfloat16"])
def test_units_are_dropped_at_the_rate_and_kept_ones_scaled(rate, dtype):
    _, y = _sample(rate, dtype)
    dropped = float(np.mean(y == 0))
    sigma = np.sqrt(rate * (1 - rate) / y.size)
    # 4 million units: 5 sigma is under 0.1 points, finer than bfloat16's 1/128 steps of a uniform number.
    assert abs(dropped - rate) < 5 * sigma, (dropped, rate)
    kept = y[y != 0]
    want = np.float32(1.0) * np.float32(1.0 / (1.0 - rate))
    if dtype is None:
        assert np.all(kept == want)
    else:
        assert np.all(kept == float(tf.cast(want, tf.bfloat16)))


def test_inference_passes_the_input_through():
    layer = Dropout(0.5)
    x = tf.random.normal((8, 16))
    assert np.array_equal(layer(x, training=False).numpy(), x.numpy())
    assert np.array_equal(layer(x).numpy(), x.numpy())


def test_masks_follow_the_seed_and_change_every_call():
    layer, a = _sample(0.5, shape=(64, 64), seed=3)
    b = layer(tf.ones((64, 64)), training=True).numpy()
    _, again = _sample(0.5, shape=(64, 64), seed=3)
    _, other = _sample(0.5, shape=(64, 64), seed=4)
    assert np.array_equal(a, again)
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, other)


def test_the_gradient_is_the_mask_times_the_scale():
    keras.utils.set_random_seed(0)
    layer = Dropout(0.25)
    x = tf.Variable(tf.random.normal((32, 33)))   # an odd count: the last random word is only partly used
    with tf.GradientTape() as tape:
        y = layer(x, training=True)
        loss = tf.reduce_sum(y)
    g = tape.gradient(loss, x).numpy()
    mask = (y.numpy() != 0)
    assert np.allclose(g, mask / 0.75)
    assert np.allclose(y.numpy(), x.numpy() * mask / 0.75, rtol=1e-6)


def test_a_noise_shape_is_refused():
    with pytest.raises(ValueError, match="noise_shape"):
        Dropout(0.5, noise_shape=(None, 1))(tf.ones((4, 4)), training=True)
