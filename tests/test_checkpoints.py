"""A checkpoint that cannot be read completely is reported in one line, removed, and never resumed from: the run
goes on from the checkpoint before it, or from step 0, and ends exactly as an uninterrupted run."""

import json
import os
import threading

import numpy as np
import pytest

from ex1 import train
from ex1.runner import Context, RunSpec, get_profile
from ex1.store import Store
from tests.conftest import MEASURED, Interrupt, builder, kill_at, synthetic_images

CFG = train.TrainConfig(steps=60, batch_size=20, eval_every=20, train_eval_size=100, learning_rate=1e-3, seed=5)
BUILD = builder("shallow_cnn", filters=3, pool=4)


@pytest.fixture(scope="module")
def tiny():
    return (*synthetic_images(300, (28, 28), 1), *synthetic_images(100, (28, 28), 2))


@pytest.fixture(scope="module")
def uninterrupted(tiny):
    return train.train(BUILD, *tiny, CFG, log=lambda s: None)


def _npz(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _rewrite(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _meta(arrays, **change):
    meta = json.loads(arrays["meta"].tobytes().decode())
    meta.update(change)
    return np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


def _drop_history(p):
    a = _npz(p)
    a["meta"] = np.frombuffer(json.dumps({"step": 40}).encode(), dtype=np.uint8)
    _rewrite(p, a)


def _drop_array(p):
    a = _npz(p)
    del a["m1"]
    _rewrite(p, a)


def _wrong_shape(p):
    a = _npz(p)
    a["m0"] = a["m0"][..., :1]
    _rewrite(p, a)


def _wrong_dtype(p):
    a = _npz(p)
    a["m0"] = a["m0"].astype(np.float64)
    _rewrite(p, a)


def _truncate(p):
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _not_a_zip(p):
    p.write_bytes(b"this is not a checkpoint\n" * 40)


def _history_elsewhere(p):
    a = _npz(p)
    meta = json.loads(a["meta"].tobytes().decode())
    a["meta"] = _meta(a, history=meta["history"][:-1])     # ends at step 20, weights of step 40
    _rewrite(p, a)


def _weights_elsewhere(p):
    a = _npz(p)
    meta = json.loads(a["meta"].tobytes().decode())
    later = dict(meta["history"][-1], step=60)
    a["meta"] = _meta(a, step=60, history=meta["history"] + [later])   # claims step 60, weights of step 40
    _rewrite(p, a)


def _a_pipe(p):
    p.unlink()
    os.mkfifo(p)


DAMAGE = {
    "meta without history": (_drop_history, "lacks 'history'"),
    "a weight missing": (_drop_array, "missing m1"),
    "a weight of the wrong shape": (_wrong_shape, "conv1/kernel is float32[5, 5, 1, 1]"),
    "a weight of the wrong dtype": (_wrong_dtype, "conv1/kernel is float64"),
    "truncated": (_truncate, "not a readable .npz"),
    "not a zip": (_not_a_zip, "not a readable .npz"),
    "a history that ends before the weights' step": (_history_elsewhere, "ends at step 20"),
    "weights older than the history": (_weights_elsewhere, "weights are those of step 40"),
    "a named pipe": (_a_pipe, "a named pipe, not a regular file"),
}


def _killed_after_step_40(tiny, directory):
    with pytest.raises(Interrupt):
        train.train(BUILD, *tiny, CFG, checkpoint_dir=directory, log=kill_at(60))   # checkpoints 40, and 20 before


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_newest_checkpoint_is_reported_and_the_one_before_it_resumed(tiny, uninterrupted, tmp_path, kind):
    damage, reason = DAMAGE[kind]
    _killed_after_step_40(tiny, tmp_path)
    damage(tmp_path / "checkpoint.npz")
    lines = []
    done = threading.Event()
    result = {}

    def resume():   # a thread, so that a reader blocking on the pipe fails the test instead of hanging it
        result["r"] = train.train(BUILD, *tiny, CFG, checkpoint_dir=tmp_path, log=lines.append)
        done.set()

    threading.Thread(target=resume, daemon=True).start()
    assert done.wait(60), "the resumed run hung"
    damaged = [s for s in lines if "damaged" in s]
    assert len(damaged) == 1 and reason in damaged[0] and "the checkpoint before it" in damaged[0], lines
    assert "\n" not in damaged[0]
    assert any("resuming at step 20 of 60" in s for s in lines)
    assert not (tmp_path / "checkpoint.npz").exists() or (tmp_path / "checkpoint.npz").is_file()
    res = result["r"]
    assert res.resumed_from == 20
    np.testing.assert_array_equal(res.history[MEASURED].to_numpy(), uninterrupted.history[MEASURED].to_numpy())
    for a, b in zip(res.model.variables, uninterrupted.model.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_with_both_checkpoints_damaged_the_run_starts_again_from_step_0(tiny, uninterrupted, tmp_path):
    _killed_after_step_40(tiny, tmp_path)
    _drop_history(tmp_path / "checkpoint.npz")
    _truncate(tmp_path / "checkpoint.prev.npz")
    lines = []
    res = train.train(BUILD, *tiny, CFG, checkpoint_dir=tmp_path, log=lines.append)
    damaged = [s for s in lines if "damaged" in s]
    assert len(damaged) == 2 and "resumes from step 0" in damaged[1], lines
    assert res.resumed_from == 0
    np.testing.assert_array_equal(res.history[MEASURED].to_numpy(), uninterrupted.history[MEASURED].to_numpy())


def test_a_packed_checkpoint_of_another_number_of_runs_is_not_resumed(tiny, tmp_path):
    from ex1 import packed

    builds = [BUILD, builder("shallow_cnn", filters=2, pool=4)]
    whole = packed.train_packed(builds, *tiny, CFG, log=lambda s: None)
    with pytest.raises(Interrupt):
        packed.train_packed(builds, *tiny, CFG, checkpoint_dir=tmp_path, log=kill_at(60))
    a = _npz(tmp_path / "checkpoint.npz")
    meta = json.loads(a["meta"].tobytes().decode())
    a["meta"] = _meta(a, history=meta["history"][:1])
    _rewrite(tmp_path / "checkpoint.npz", a)
    lines = []
    again = packed.train_packed(builds, *tiny, CFG, checkpoint_dir=tmp_path, log=lines.append)
    assert any("is not that of 2 runs" in s for s in lines), lines
    for x, y in zip(again, whole):
        np.testing.assert_array_equal(x.history[MEASURED].to_numpy(), y.history[MEASURED].to_numpy())


def test_the_stored_run_after_a_damaged_checkpoint_equals_an_uninterrupted_one(tmp_path, data_dir):
    def context(name, log):
        return Context(get_profile("quick"), Store(tmp_path / name), data_dir=str(data_dir), log=log)

    spec = RunSpec("shallow_cnn", context("a", print).train_config(100), {"filters": 2}, label="tiny")
    clean = context("clean", lambda s: None).train(spec)
    ctx = context("a", kill_at(100))
    with pytest.raises(Interrupt):
        ctx.train(spec)
    ckpt = ctx.store.root / "checkpoints" / ctx.run_key(spec) / "checkpoint.npz"
    _drop_history(ckpt)   # the KeyError: 'history' of a hand-edited checkpoint
    lines = []
    run = context("a", lines.append).train(spec)
    assert sum("damaged" in s for s in lines) == 1 and not any("Traceback" in s for s in lines)
    assert run.history[MEASURED].equals(clean.history[MEASURED])
    stored = context("a", lambda s: None).train(spec)
    assert stored.cache_hit and stored.history[MEASURED].equals(clean.history[MEASURED])
