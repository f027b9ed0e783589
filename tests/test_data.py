"""Data sources without network: a directory written here, TFDS through mock_data, and the errors."""

import time

import numpy as np
import pytest

from ex1 import data
from tests.conftest import write_npz


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch):
    monkeypatch.setattr(data, "_CACHE", {})
    monkeypatch.delenv(data.ENV_VAR, raising=False)


def test_directory_source_loads_uint8_in_keras_layout(tmp_path):
    write_npz(tmp_path, "mnist", 200, 50)
    ds = data.load("mnist", tmp_path)
    assert ds.x_train.shape == (200, 28, 28) and ds.x_train.dtype == np.uint8
    assert ds.y_test.shape == (50,) and ds.source == f"file {tmp_path / 'mnist.npz'}"
    assert len(ds.fingerprint) == 64


def test_environment_variable_names_the_directory(tmp_path, monkeypatch):
    write_npz(tmp_path, "cifar10", 100, 20, shape=(32, 32, 3))
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    assert data.load("cifar10").x_test.shape == (20, 32, 32, 3)


def test_fingerprint_changes_with_one_pixel(tmp_path):
    write_npz(tmp_path, "mnist", 100, 20)
    a = data.load("mnist", tmp_path).fingerprint
    with np.load(tmp_path / "mnist.npz") as f:
        arrays = {k: f[k].copy() for k in f.files}
    arrays["x_test"][0, 0, 0] ^= 1
    other = tmp_path / "other"
    other.mkdir()
    np.savez(other / "mnist.npz", **arrays)
    assert data.load("mnist", other).fingerprint != a


@pytest.mark.parametrize("damage, message", [
    ("truncate", "not a readable .npz"),
    ("dtype", "dtype float32, expected uint8"),
    ("shape", "expected (N, 28, 28)"),
    ("missing", "missing array"),
    ("labels", "labels outside 0..9"),
    ("pickle", "holds Python objects"),
    ("zero_d", "x_train has shape (), expected (N, 28, 28)"),
])
def test_malformed_file_gives_a_clear_error(tmp_path, damage, message):
    path = write_npz(tmp_path, "mnist", 50, 10)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:300])
    else:
        if damage == "dtype":
            arrays["x_train"] = arrays["x_train"].astype(np.float32)
        elif damage == "shape":
            arrays["x_test"] = arrays["x_test"].reshape(10, 784)
        elif damage == "missing":
            del arrays["y_test"]
        elif damage == "labels":
            arrays["y_train"] = arrays["y_train"] + 10
        elif damage == "pickle":
            arrays["x_train"] = np.array([{"a": 1}], dtype=object)
        elif damage == "zero_d":
            arrays["x_train"] = np.array(7, dtype=np.uint8)
        np.savez(path, **arrays)
    with pytest.raises(data.DataError) as e:
        data.load("mnist", tmp_path, use_tfds=False)
    assert message in str(e.value) and str(path) in str(e.value) and "--data-dir" in str(e.value)


def test_a_header_claiming_an_absurd_size_is_malformed_before_anything_is_allocated(tmp_path):
    import io
    import zipfile

    path = write_npz(tmp_path, "mnist", 50, 10)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    with zipfile.ZipFile(path, "w") as z:
        for k, a in arrays.items():
            buf = io.BytesIO()
            if k == "x_train":   # 10^12 images claimed, 1 KB stored
                np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False,
                                                           "shape": (10 ** 12, 28, 28)})
                buf.write(b"\0" * 1024)
            else:
                np.lib.format.write_array(buf, a)
            z.writestr(f"{k}.npy", buf.getvalue())
    with pytest.raises(data.DataError) as e:
        data.load("mnist", tmp_path, use_tfds=False)
    assert "x_train's header claims shape (1000000000000, 28, 28)" in str(e.value) and "malformed" in str(e.value)


def test_cifar_labels_shaped_n_by_1_as_keras_returns_them_are_accepted(tmp_path):
    path = write_npz(tmp_path, "cifar10", 100, 20, shape=(32, 32, 3))
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    np.savez(path, **{k: (v[:, None] if k.startswith("y") else v) for k, v in arrays.items()})
    ds = data.load("cifar10", tmp_path, use_tfds=False)
    assert ds.y_train.shape == (100,) and np.array_equal(ds.y_test, arrays["y_test"])


def test_a_named_directory_that_does_not_exist_is_reported_without_trying_tfds(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_load_tfds", lambda spec: pytest.fail("TFDS tried"))
    with pytest.raises(data.DataError) as e:
        data.load("mnist", tmp_path / "nowhere")
    msg = str(e.value)
    assert "nowhere (given by --data-dir): the directory does not exist" in msg and data.ENV_VAR in msg


def test_offline_without_a_prepared_tfds_fails_in_seconds_naming_every_source(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    def unprepared(name, split, as_supervised, download):
        if download:
            pytest.fail("a download was tried although the host cannot be reached")
        raise AssertionError(f"Dataset {name}: could not find data in ~/tensorflow_datasets")  # as TFDS says it

    monkeypatch.setattr(tfds, "load", unprepared)
    monkeypatch.setattr(data, "_online", lambda host, timeout=5.0: False)
    t = time.monotonic()
    with pytest.raises(data.DataError) as e:
        data.load("mnist", None)
    msg = str(e.value)
    assert time.monotonic() - t < 60       # TFDS's own retries take minutes
    assert "data directory: none given" in msg
    assert "TensorFlow Datasets 'mnist': not prepared" in msg and "cannot be reached" in msg
    assert "--data-dir" in msg and data.ENV_VAR in msg


def test_the_network_probe_says_no_within_its_timeout():
    t = time.monotonic()
    assert data._online("host.invalid", timeout=2.0) is False    # .invalid never resolves (RFC 2606)
    assert time.monotonic() - t < 5


def test_tfds_source_through_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=40):
        ds = data.load("mnist", None)
    assert ds.source == "TensorFlow Datasets 'mnist'"
    assert ds.x_train.shape == (40, 28, 28) and ds.x_train.dtype == np.uint8
    assert ds.y_train.max() < 10


def test_stratified_subset_is_unique_balanced_and_seeded():
    y = np.repeat(np.arange(10), 100)
    a = data.stratified_subset(y, 25, seed=3)
    assert len(a) == 250 and len(np.unique(a)) == 250
    assert np.bincount(y[a]).tolist() == [25] * 10
    assert np.array_equal(a, data.stratified_subset(y, 25, seed=3))
    assert not np.array_equal(a, data.stratified_subset(y, 25, seed=4))
    with pytest.raises(ValueError):
        data.stratified_subset(y, 101, seed=0)


def test_to_float_adds_the_channel_axis_and_scales():
    x = np.full((2, 28, 28), 255, dtype=np.uint8)
    f = data.to_float(x)
    assert f.shape == (2, 28, 28, 1) and f.dtype == np.float32 and f.max() == 1.0
