"""The one layer the model zoo takes from here rather than from Keras: dropout with a cheaper, exact mask.

Imported by the builders only (it imports Keras and TensorFlow).
"""

from __future__ import annotations

import keras
import tensorflow as tf


class Dropout(keras.layers.Dropout):
    """Keras's Dropout (same rate, same per-layer seed generator, same inverted scaling), with the keep
    mask drawn from 8 random bits per unit where the rate is a multiple of 1/256, 16 bits otherwise.

    Why not Keras's own: it draws one random number of the compute dtype per unit. On a CPU drawing them
    is most of the cost of dropout: 1.5 ms of a 12 ms step of the Bonn network on CIFAR-10 (670,000
    units); 8-bit draws need a quarter of the random words. And a bfloat16 uniform number has 7 bits, so
    Keras would drop 13/128 = 10.2% of the units at a rate of 0.1. Here a unit is dropped with probability
    round(rate * 2^bits) / 2^bits: exactly the rate for 0.25 and 0.5, within 2^-17 of it otherwise.
    """

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        if self.noise_shape is not None:
            raise ValueError("ex1.layers.Dropout draws one mask entry per unit; noise_shape is not supported")
        bits = 8 if float(self.rate * 256).is_integer() else 16
        per_word = 32 // bits
        shape = tf.shape(inputs)
        n = tf.reduce_prod(shape)
        seed = tf.cast(self.seed_generator.next(), tf.int32)
        words = tf.random.stateless_uniform([(n + per_word - 1) // per_word], seed=seed, minval=None, maxval=None,
                                            dtype=tf.uint32)
        draws = tf.reshape(tf.bitcast(words, tf.uint8 if bits == 8 else tf.uint16), [-1])[:n]
        threshold = tf.constant(round(self.rate * 2 ** bits), draws.dtype)
        keep = tf.reshape(draws >= threshold, shape)
        # The 1 / (1 - rate) scaling in float32: in bfloat16 1/0.75 would be 1.336, a 0.2% bias.
        kept = tf.cast(inputs, tf.float32) * (1.0 / (1.0 - self.rate))
        return tf.cast(tf.where(keep, kept, tf.zeros_like(kept)), inputs.dtype)
