"""The training engine on tiny synthetic data: it learns, it is deterministic, and it resumes exactly."""

import numpy as np
import pytest

from ex1 import data, models, train
from tests.conftest import Interrupt, MEASURED, kill_at, synthetic_images


@pytest.fixture(scope="module")
def tiny():
    xtr, ytr = synthetic_images(600, (28, 28), 1)
    xte, yte = synthetic_images(200, (28, 28), 2)
    return data.to_float(xtr), ytr, data.to_float(xte), yte


def build(dtype):
    return models.create_model("shallow_cnn", filters=4, kernel_size=5, pool=4, dtype=dtype)


CFG = train.TrainConfig(steps=60, batch_size=20, learning_rate=3e-3, eval_every=20, train_eval_size=300, seed=5)


def test_tiny_training_beats_chance_by_a_wide_margin(tiny):
    res = train.train(build, *tiny, CFG, log=lambda s: None)
    h = res.history
    assert list(h["step"]) == [0, 20, 40, 60]
    assert h["heldout_accuracy"].iloc[-1] > 0.6          # chance is 0.1
    assert h["heldout_loss"].iloc[-1] < h["heldout_loss"].iloc[0]
    assert res.images_per_second > 0
    assert (h["wall_s"].diff().dropna() > 0).all()


def test_same_seed_gives_identical_history(tiny):
    a = train.train(build, *tiny, CFG, log=lambda s: None).history[MEASURED]
    b = train.train(build, *tiny, CFG, log=lambda s: None).history[MEASURED]
    assert a.equals(b)


def test_batch_order_depends_only_on_the_step():
    full = train.batch_order(103, 10, 40, seed=1)
    assert full.shape == (40, 10)
    assert np.array_equal(train.batch_order(103, 10, 40, seed=1, start=17), full[17:])
    # Within an epoch (10 steps of 10 out of 103) no example repeats.
    assert len(np.unique(full[:10])) == 100


@pytest.mark.parametrize("killed_at, resumes_from", [(20, 0), (40, 20)])
def test_interrupted_run_resumes_to_the_same_result(tiny, tmp_path, killed_at, resumes_from):
    """Killed before its first evaluation checkpoint (only step 0's is saved) or later: the resumed
    history equals the uninterrupted one row for row, step 0 recorded once."""
    whole = train.train(build, *tiny, CFG, log=lambda s: None)

    with pytest.raises(Interrupt):
        train.train(build, *tiny, CFG, checkpoint_dir=tmp_path, log=kill_at(killed_at))
    lines = []
    resumed = train.train(build, *tiny, CFG, checkpoint_dir=tmp_path, log=lines.append)
    assert resumed.resumed_from == resumes_from   # the checkpoint of the last finished evaluation point
    assert any(f"resuming at step {resumes_from} " in s for s in lines)
    assert list(resumed.history["step"]) == [0, 20, 40, 60]
    np.testing.assert_allclose(resumed.history[MEASURED].to_numpy(), whole.history[MEASURED].to_numpy(),
                               rtol=1e-5, atol=1e-6)


def test_a_full_disk_while_checkpointing_is_one_line_and_leaves_no_temporary(tiny, tmp_path, monkeypatch):
    import errno

    from ex1.fsutil import WriteError

    def full(f, **arrays):
        f.write(b"\0" * 1000)    # part of the file, as a filling disk leaves it
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    with pytest.raises(WriteError) as e:
        train.train(build, *tiny, CFG, checkpoint_dir=tmp_path, log=lambda s: None)
    msg = str(e.value)
    assert "the disk is full" in msg and "Free disk space" in msg and "\n" not in msg
    assert list(tmp_path.iterdir()) == []


def test_damaged_checkpoint_is_discarded_and_training_starts_over(tiny, tmp_path):
    (tmp_path / "checkpoint.npz").write_bytes(b"not a checkpoint")
    res = train.train(build, *tiny, CFG, checkpoint_dir=tmp_path, log=lambda s: None)
    assert res.resumed_from == 0 and len(res.history) == 4


def test_piecewise_constant_rate_and_config_checks():
    cfg = train.TrainConfig(steps=100, lr_boundaries=(50,), lr_values=(0.1, 0.01), optimizer="momentum")
    assert cfg.learning_rate_at(0) == 0.1 and cfg.learning_rate_at(50) == 0.1 and cfg.learning_rate_at(51) == 0.01
    with pytest.raises(ValueError):
        train.TrainConfig(lr_boundaries=(5,), lr_values=(0.1,))
    with pytest.raises(ValueError):
        train.TrainConfig(optimizer="rmsprop")


def test_two_heads_are_trained_and_scored_together(tiny):
    import keras

    xtr, ytr, xte, yte = tiny
    y2tr, y2te = np.stack([ytr, ytr[::-1]], 1), np.stack([yte, yte[::-1]], 1)

    def two_heads(dtype):
        i = keras.Input((28, 28, 1))
        h = keras.layers.Flatten()(keras.layers.AveragePooling2D(4)(i))
        return keras.Model(i, keras.layers.Reshape((2, 10))(keras.layers.Dense(20)(h)))

    h = train.train(two_heads, xtr, y2tr, xte, y2te, CFG, log=lambda s: None).history
    assert 0.0 <= h["heldout_accuracy"].iloc[-1] <= 1.0 and h["heldout_loss"].iloc[-1] > 0


def build_augmented(dtype):
    return models.create_model("bonn_cnn", filters=(4,), dense_units=8, shift=3, input_shape=(28, 28, 1), dtype=dtype)


def test_augmented_run_resumes_exactly_and_evaluates_unaugmented(tiny, tmp_path):
    """The random mirror and shift draw from seed state that the checkpoint keeps: a resumed run sees the
    same augmented batches; at evaluation the images pass unchanged."""
    cfg = CFG
    whole = train.train(build_augmented, *tiny, cfg, log=lambda s: None)

    with pytest.raises(Interrupt):
        train.train(build_augmented, *tiny, cfg, checkpoint_dir=tmp_path, log=kill_at(40))
    resumed = train.train(build_augmented, *tiny, cfg, checkpoint_dir=tmp_path, log=lambda s: None)
    assert resumed.resumed_from == 20
    np.testing.assert_allclose(resumed.history[MEASURED].to_numpy(), whole.history[MEASURED].to_numpy(),
                               rtol=1e-5, atol=1e-6)
    m = whole.model
    x = tiny[2][:8]
    np.testing.assert_array_equal(m(x, training=False).numpy(), m(x, training=False).numpy())
    assert not np.allclose(m(x, training=True).numpy(), m(x, training=False).numpy())
    assert (models.param_table(m)["params"].sum()) == m.count_params()


FLAT = train.TrainConfig(steps=200, batch_size=20, learning_rate=3e-3, lr_boundaries=(40,), lr_values=(3e-3, 3e-4),
                         eval_every=20, train_eval_size=300, seed=5)


def first_flat_step(h, cfg):
    """Where the rule says to stop, read off an uncapped history: the first evaluation at which the last
    three evaluations after the rate drop lie within the tolerance."""
    for i in range(len(h)):
        rows = h.iloc[: i + 1].to_dict("records")
        if train.is_flat(rows, cfg):
            return int(h["step"].iloc[i])
    return cfg.steps


@pytest.mark.parametrize("tolerance", [0.99, 0.02])
def test_a_run_stops_where_its_uncapped_history_first_turns_flat(tiny, tolerance):
    from dataclasses import replace

    whole = train.train(build, *tiny, FLAT, log=lambda s: None).history
    cfg = replace(FLAT, stop_when_flat=tolerance)
    stop = first_flat_step(whole, cfg)
    if tolerance == 0.99:
        assert stop == 100   # anything is flat: the third evaluation after the drop at step 40
    lines = []
    res = train.train(build, *tiny, cfg, log=lines.append)
    assert int(res.history["step"].iloc[-1]) == stop
    np.testing.assert_allclose(res.history[MEASURED].to_numpy(),
                               whole[whole["step"] <= stop][MEASURED].to_numpy(), rtol=1e-5, atol=1e-6)
    assert (stop < FLAT.steps) == any("flat over the last 3 evaluations" in s for s in lines)


def test_a_flat_run_killed_before_its_stop_resumes_and_stops_at_the_same_step(tiny, tmp_path):
    from dataclasses import replace

    cfg = replace(FLAT, stop_when_flat=0.99)
    whole = train.train(build, *tiny, cfg, log=lambda s: None)

    with pytest.raises(Interrupt):
        train.train(build, *tiny, cfg, checkpoint_dir=tmp_path, log=kill_at(80))
    resumed = train.train(build, *tiny, cfg, checkpoint_dir=tmp_path, log=lambda s: None)
    assert list(resumed.history["step"]) == list(whole.history["step"]) == [0, 20, 40, 60, 80, 100]
    np.testing.assert_allclose(resumed.history[MEASURED].to_numpy(), whole.history[MEASURED].to_numpy(),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="stop_when_flat"):
        replace(FLAT, stop_when_flat=0.0)


def test_uint8_images_train_exactly_as_their_float32_copy():
    # The runner hands the engine the stored uint8 images (a quarter of the memory); scaled batch by batch in
    # the graph they must be the very values of data.to_float, so the history is the float32 copy's to the bit.
    xtr, ytr = synthetic_images(600, (28, 28), 1)
    xte, yte = synthetic_images(200, (28, 28), 2)
    as_uint8 = train.train(build, xtr, ytr, xte, yte, CFG, log=lambda s: None).history[MEASURED]
    as_float = train.train(build, data.to_float(xtr), ytr, data.to_float(xte), yte, CFG,
                           log=lambda s: None).history[MEASURED]
    assert as_uint8.equals(as_float)
    scale, shape = train.model_inputs(xtr)
    every = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    assert shape == (28, 28, 1)
    assert np.array_equal(scale(every).numpy(), data.to_float(every))


def test_the_one_kernel_adam_follows_keras_adam():
    """train's Adam updates each tensor with TensorFlow's fused kernel; the steps are Keras's Adam steps."""
    import keras
    import tensorflow as tf

    from ex1.train import _one_kernel_adam

    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(20, 5)).astype(np.float32)
    grads = [rng.normal(size=(20, 5)).astype(np.float32) for _ in range(30)]
    out = []
    for opt in (keras.optimizers.Adam(1e-2), _one_kernel_adam(1e-2)):
        v = keras.Variable(w0)
        opt.build([v])
        for g in grads:
            opt.apply_gradients([(tf.constant(g), v)])
        out.append(v.numpy())
    assert np.abs(out[1] - w0).max() > 0.1   # 30 steps of 0.01 moved the weights
    np.testing.assert_allclose(out[1], out[0], rtol=1e-5, atol=1e-6)
