"""Fuzzed, not sampled: generated data files, store entries and checkpoints, malformed in every way Hypothesis
finds, each end in a clean one-line error or a recomputation: no traceback, no hang, nothing wrong accepted.

CI runs a few dozen cases per kind. The benchmark run (README, "Robustness") runs thousands and counts outcomes:

    EX1_FUZZ_EXAMPLES=1000 EX1_FUZZ_REPORT=fuzz.json python -m pytest -q tests/test_fuzz.py
"""

from __future__ import annotations

import atexit
import io
import json
import os
import tempfile
import threading
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ex1 import data  # noqa: E402
from ex1.store import Store  # noqa: E402

EXAMPLES = int(os.environ.get("EX1_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=10_000, derandomize=not os.environ.get("EX1_FUZZ_EXAMPLES"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], database=None,
                # No shrinking: a failure is reported as found, in seconds rather than minutes.
                phases=[Phase.explicit, Phase.generate])
OUTCOMES: dict[str, Counter] = {}


def _count(kind: str, outcome: str) -> None:
    OUTCOMES.setdefault(kind, Counter())[outcome] += 1


@atexit.register
def _report() -> None:
    path = os.environ.get("EX1_FUZZ_REPORT")
    if path and OUTCOMES:
        Path(path).write_text(json.dumps({k: dict(v) for k, v in OUTCOMES.items()}, indent=1, sort_keys=True))


def within(seconds: float, fn, *args):
    """fn(*args) in a thread: its result, or a failure naming the hang (a blocked reader cannot be interrupted)."""
    box = {}

    def target():
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"hung for more than {seconds} s"
    if "error" in box:
        raise box["error"]
    return box.get("value")


# ----------------------------------------------------------------------------------------------- data files

DTYPES = st.sampled_from([np.uint8, np.int8, np.uint16, np.int32, np.int64, np.float32, np.float64, np.bool_,
                          np.complex64, "U3", "S2"])


@st.composite
def arrays_of_any_shape(draw):
    dtype = draw(DTYPES)
    if draw(st.booleans()):   # large and shaped like images, contents constant
        return np.zeros((draw(st.integers(0, 300)), *draw(st.sampled_from([(28, 28), (28,), (32, 32, 3), ()]))), dtype)
    shape = tuple(draw(st.lists(st.integers(0, 8), max_size=3)))   # at most 512 drawn elements
    n = int(np.prod(shape)) if shape else 1
    if np.dtype(dtype).kind in "US":
        words = draw(st.lists(st.text("abcxyz019", max_size=2), min_size=n, max_size=n))
        return np.array(words, dtype=dtype).reshape(shape)
    raw = draw(st.binary(min_size=n * np.dtype(dtype).itemsize, max_size=n * np.dtype(dtype).itemsize))
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


@st.composite
def almost_mnist(draw):
    """Arrays near MNIST's layout: right keys and ranks mostly, with drawn sizes, dtypes and label values."""
    out = {}
    for split in ("train", "test"):
        n = draw(st.integers(0, 12))
        if draw(st.integers(0, 9)):
            out[f"x_{split}"] = draw(st.sampled_from([
                np.zeros((n, 28, 28), np.uint8), np.full((n, 28, 28), 255, np.uint8), np.ones((n, 28, 28), np.uint8),
                np.zeros((n, 28, 28), np.float32), np.zeros((n, 28), np.uint8), np.zeros((n, 28, 28, 1), np.uint8)]))
        if draw(st.integers(0, 9)):
            labels = draw(st.lists(st.integers(0, 9) if draw(st.booleans()) else st.integers(-3, 12),
                                   min_size=n, max_size=n + draw(st.sampled_from([0, 0, 0, 1]))))
            out[f"y_{split}"] = np.array(labels, dtype=draw(st.sampled_from([np.int64, np.uint8, np.int8,
                                                                              np.float64]))
                                         if all(0 <= v < 256 for v in labels) else np.int64)
    return out


def _npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@st.composite
def data_files(draw):
    """The bytes of a data file: a drawn .npz, then perhaps truncated, overwritten in places, or with a member
    whose .npy header claims another shape."""
    kind = draw(st.sampled_from(["near", "any keys", "bytes"]))
    if kind == "bytes":
        return kind, draw(st.binary(max_size=400))
    arrays = draw(almost_mnist()) if kind == "near" else draw(st.dictionaries(
        st.sampled_from(list(data.KEYS) + ["x", "labels", "arr_0"]), arrays_of_any_shape(), max_size=5))
    blob = bytearray(_npz_bytes(arrays))
    how = draw(st.sampled_from(["whole", "whole", "truncated", "flipped", "header"]))
    if how == "truncated" and blob:
        blob = blob[: draw(st.integers(0, len(blob) - 1))]
    elif how == "flipped" and blob:
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(blob) - 1))
            blob[i] ^= draw(st.integers(1, 255))
    elif how == "header":
        shape = tuple(draw(st.lists(st.sampled_from([0, 1, 28, 10 ** 6, 2 ** 40]), max_size=4)))
        blob = bytearray(_rewrite_header(bytes(blob), shape))
    return f"{kind}, {how}", bytes(blob)


def _rewrite_header(blob: bytes, shape: tuple) -> bytes:
    """The same .npz with every member's .npy header claiming `shape` (the data left as it was)."""
    src, out = zipfile.ZipFile(io.BytesIO(blob)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            raw = src.read(info)
            try:
                f = io.BytesIO(raw)
                np.lib.format.read_magic(f)
                _, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                body = raw[f.tell():]
                head = io.BytesIO()   # magic and header, as numpy writes them
                np.lib.format.write_array_header_1_0(head, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                            "fortran_order": fortran, "shape": shape})
                raw = head.getvalue() + body
            except Exception:  # noqa: BLE001 - a member that is not an array stays as it is
                pass
            z.writestr(info.filename, raw)
    return out.getvalue()


def _valid_mnist(ds) -> bool:
    return all(getattr(ds, k).dtype == np.uint8 for k in ("x_train", "x_test")) \
        and ds.x_train.shape[1:] == (28, 28) and ds.x_test.shape[1:] == (28, 28) \
        and len(ds.y_train) == len(ds.x_train) > 0 and len(ds.y_test) == len(ds.x_test) > 0 \
        and int(ds.y_train.min()) >= 0 and int(ds.y_train.max()) <= 9 \
        and int(ds.y_test.min()) >= 0 and int(ds.y_test.max()) <= 9


@FUZZ
@given(data_files())
def test_a_generated_data_file_loads_valid_or_is_one_clean_line(case):
    kind, blob = case
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "mnist.npz").write_bytes(blob)
        data._CACHE.clear()
        try:
            ds = within(10, data.load, "mnist", d, False)
        except data.DataError as e:
            message = str(e)
            assert "\n" not in message and "mnist.npz" in message and "Traceback" not in message
            _count("data file", "refused in one line")
            return
        assert _valid_mnist(ds), kind
        _count("data file", "loaded, valid")


@pytest.mark.parametrize("make", ["fifo", "folder", "socket", "device"], ids=str)
def test_a_data_file_that_is_not_a_regular_file_is_refused_at_once(tmp_path, make):
    import socket

    path = tmp_path / "mnist.npz"
    if make == "fifo":
        os.mkfifo(path)
    elif make == "folder":
        path.mkdir()
    elif make == "device":
        path.symlink_to("/dev/zero")   # a reader of it would never reach the end
    else:
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
    data._CACHE.clear()
    with pytest.raises(data.DataError) as e:
        within(10, data.load, "mnist", str(tmp_path), False)
    assert "\n" not in str(e.value)
    assert {"fifo": "is a named pipe", "folder": "is a folder", "socket": "is a socket",
            "device": "is a character device"}[make] in str(e.value)


# ---------------------------------------------------------------------------------------------- store entries

TABLES = {"history": pd.DataFrame({"step": [0, 50, 100], "test_accuracy": [0.1, 0.8, 0.9]}),
          "params": pd.DataFrame({"layer": ["conv1", "logits"], "params": [52, 1210]})}
ARRAYS = {"w0": np.arange(12, dtype=np.float32).reshape(3, 4), "w1": np.ones(5, np.float32)}
RECORD = {"model": "shallow_cnn", "train_seconds": 1.5, "config": {"steps": 100}}
ENTRY_FILES = ["record.json", "tables/history.csv", "tables/params.csv", "arrays.npz"]


@st.composite
def store_damage(draw):
    target = draw(st.sampled_from(ENTRY_FILES))
    how = draw(st.sampled_from(["truncate", "flip", "replace", "delete", "fifo", "folder", "json",
                                "json with checksums", "bytes with checksum"]))
    if how in ("truncate",):
        return target, how, draw(st.floats(0, 0.99))
    if how == "flip":
        return target, how, draw(st.lists(st.tuples(st.floats(0, 0.999), st.integers(1, 255)), min_size=1,
                                          max_size=6))
    if how in ("replace", "bytes with checksum"):
        return target, how, draw(st.binary(max_size=300))
    if how == "json":
        return "record.json", how, draw(st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(
                ["format", "key", "tables", "files", "record", "x"]), c, max_size=5), max_leaves=12))
    if how == "json with checksums":
        return "record.json", how, draw(st.sampled_from([
            ("files", {"../outside.csv": "0" * 64}), ("files", {"/etc/hostname": "0" * 64}),
            ("files", {"tables/history.csv": "0" * 64}), ("tables", ["history", "missing"]),
            ("tables", [1, None]), ("record", []), ("format", 0), ("key", "another")]))
    return target, how, None


def _damage(entry: Path, target: str, how: str, arg) -> None:
    p = entry / target
    if how == "truncate":
        blob = p.read_bytes()
        p.write_bytes(blob[: int(len(blob) * arg)])
    elif how == "flip":
        blob = bytearray(p.read_bytes())
        for where, x in arg:
            blob[int(len(blob) * where)] ^= x
        p.write_bytes(bytes(blob))
    elif how == "replace":
        p.write_bytes(arg)
    elif how == "delete":
        p.unlink()
    elif how == "fifo":
        p.unlink()
        os.mkfifo(p)
    elif how == "folder":
        p.unlink()
        p.mkdir()
    elif how == "json":
        p.write_text(json.dumps(arg))
    elif how == "json with checksums":
        doc = json.loads(p.read_text())
        doc[arg[0]] = arg[1]
        p.write_text(json.dumps(doc))
    elif how == "bytes with checksum":   # a hand-edited file whose checksum was updated too
        import hashlib

        if target != "record.json":
            doc = json.loads((entry / "record.json").read_text())
            doc["files"][target] = hashlib.sha256(arg).hexdigest()
            (entry / "record.json").write_text(json.dumps(doc))
        p.write_bytes(arg)


@FUZZ
@given(store_damage())
def test_a_damaged_store_entry_reads_as_missing_and_is_removed(damage):
    target, how, arg = damage
    with tempfile.TemporaryDirectory() as d:
        store = Store(d)
        store.save("runs", "k" * 64, TABLES, RECORD, ARRAYS)
        _damage(store.path("runs", "k" * 64), target, how, arg)
        entry = within(10, store.load, "runs", "k" * 64)
        if entry is None:
            assert not store.path("runs", "k" * 64).exists() and len(store.damaged) == 1
            assert "\n" not in store.damaged[0][1]
            _count("store entry", "damaged: removed, recomputed")
            return
        if how == "bytes with checksum" and target != "record.json":
            # A forgery, not damage: the entry is whole by its checksums, so the store reads it; what reads a run
            # checks its tables (test_runner: a run entry without its history's columns is trained again).
            _count("store entry", "edited with its checksum: read, judged by the run's reader")
            return
        # Accepted only when nothing that matters changed (a flip inside JSON whitespace, say).
        assert entry.record == RECORD and entry.tables.keys() == TABLES.keys()
        assert all(entry.tables[k].equals(TABLES[k]) for k in TABLES)
        assert entry.arrays.keys() == ARRAYS.keys() and all(np.array_equal(entry.arrays[k], ARRAYS[k]) for k in ARRAYS)
        _count("store entry", "unchanged in substance: read")


# ---------------------------------------------------------------------------------------------- checkpoints

@pytest.fixture(scope="module")
def checkpoint_case(tmp_path_factory):
    """A small model and optimizer with a checkpoint of step 40 saved, and their state at saving time."""
    import keras

    from ex1 import train
    from tests.conftest import builder

    cfg = train.TrainConfig(steps=40, batch_size=10, eval_every=20, train_eval_size=50, seed=2)
    keras.utils.set_random_seed(0)
    model = builder("shallow_cnn", filters=2, pool=4)(None)
    optimizer = train._make_optimizer(cfg)
    optimizer.build(model.trainable_variables)
    model.trainable_variables[0].assign(model.trainable_variables[0] + 0.5)
    optimizer.iterations.assign(40)
    history = [{c: float(i) if c != "step" else s for i, c in enumerate(train.HISTORY_COLUMNS)} for s in (0, 20, 40)]
    d = tmp_path_factory.mktemp("ckpt")
    train._Checkpoint(d).save(40, model, optimizer, history)
    state = [np.array(v.numpy()) for v in model.variables + optimizer.variables]
    return model, optimizer, history, (d / "checkpoint.npz").read_bytes(), state


@st.composite
def checkpoint_damage(draw):
    how = draw(st.sampled_from(["truncate", "flip", "bytes", "meta", "drop", "reshape", "retype", "extra"]))
    if how == "truncate":
        return how, draw(st.floats(0, 0.99))
    if how == "flip":
        return how, draw(st.lists(st.tuples(st.floats(0, 0.999), st.integers(1, 255)), min_size=1, max_size=6))
    if how == "bytes":
        return how, draw(st.binary(max_size=300))
    if how == "meta":
        return how, draw(st.recursive(
            st.none() | st.booleans() | st.integers(-5, 100) | st.floats(allow_nan=False) | st.text(max_size=6),
            lambda c: st.lists(c, max_size=4) | st.dictionaries(st.sampled_from(["step", "history", "wall_s"]), c,
                                                                 max_size=3), max_leaves=15))
    return how, draw(st.integers(0, 20))


def _damaged_checkpoint(blob: bytes, how: str, arg) -> bytes:
    if how == "truncate":
        return blob[: int(len(blob) * arg)]
    if how == "flip":
        b = bytearray(blob)
        for where, x in arg:
            b[int(len(b) * where)] ^= x
        return bytes(b)
    if how == "bytes":
        return arg
    with np.load(io.BytesIO(blob)) as z:
        arrays = {k: z[k] for k in z.files}
    names = sorted(k for k in arrays if k != "meta")
    name = names[arg % len(names)] if how != "meta" else "meta"
    if how == "meta":
        arrays["meta"] = np.frombuffer(json.dumps(arg).encode(), dtype=np.uint8)
    elif how == "drop":
        del arrays[name]
    elif how == "reshape":
        arrays[name] = np.zeros(arrays[name].shape + (2,), arrays[name].dtype)
    elif how == "retype":
        arrays[name] = arrays[name].astype(np.float64 if arrays[name].dtype != np.float64 else np.float32)
    elif how == "extra":
        arrays[f"m{len(names) + 1}"] = np.zeros(3, np.float32)
    return _npz_bytes(arrays)


@FUZZ
@given(checkpoint_damage())
def test_a_damaged_checkpoint_is_never_resumed_from(checkpoint_case, damage):
    from ex1 import train

    model, optimizer, history, blob, state = checkpoint_case
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "checkpoint.npz").write_bytes(_damaged_checkpoint(blob, *damage))
        lines = []
        got = within(10, train._Checkpoint(d).restore, model, optimizer, None, lines.append)
        if got is None:
            assert len(lines) == 1 and "damaged" in lines[0] and "\n" not in lines[0]
            assert not (Path(d) / "checkpoint.npz").exists()
            _count("checkpoint", "damaged: reported, removed, step 0")
            return
        # Accepted: what was restored is exactly the state saved (a flip the zip's CRC-32 caught would not be).
        step, restored_history = got
        assert step == 40 and not lines
        assert all(np.array_equal(v.numpy(), a) for v, a in zip(model.variables + optimizer.variables, state))
        assert restored_history[-1]["step"] == 40
        _count("checkpoint", "unchanged in substance: resumed")
