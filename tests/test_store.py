"""The results store: round trip, stable keys, damaged and partial entries never read back."""

import os

import numpy as np
import pandas as pd
import pytest

from ex1.store import Store, StoreError, config_hash


def save_one(store, key="k1"):
    df = pd.DataFrame({"step": [0, 500], "test_accuracy": [0.1, 0.987654321012345]})
    return store.save("runs", key, {"history": df}, {"wall": 1.5}, {"w0": np.arange(6.0).reshape(2, 3)})


def test_round_trip_is_exact(tmp_path):
    store = Store(tmp_path)
    save_one(store)
    e = store.load("runs", "k1")
    assert e.tables["history"]["test_accuracy"].iloc[1] == 0.987654321012345
    assert e.record == {"wall": 1.5} and np.array_equal(e.arrays["w0"], np.arange(6.0).reshape(2, 3))


def test_config_hash_is_canonical():
    assert config_hash({"a": 1, "b": (1, 2)}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


@pytest.mark.parametrize("damage", ["edit_table", "truncate_arrays", "delete_record", "bad_json"])
def test_damaged_entry_reads_as_missing_and_is_removed(tmp_path, damage):
    store = Store(tmp_path)
    save_one(store)
    d = store.path("runs", "k1")
    if damage == "edit_table":
        p = d / "tables" / "history.csv"
        p.write_text(p.read_text().replace("0.98", "0.99"))
    elif damage == "truncate_arrays":
        p = d / "arrays.npz"
        p.write_bytes(p.read_bytes()[:40])
    elif damage == "delete_record":
        (d / "record.json").unlink()
    else:
        (d / "record.json").write_text("{not json")
    assert store.load("runs", "k1") is None
    assert not d.exists() and store.damaged


def test_a_killed_write_leaves_no_entry(tmp_path, monkeypatch):
    store = Store(tmp_path)

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_one(store)
    monkeypatch.undo()
    assert store.load("runs", "k1") is None
    assert not list((tmp_path / "runs").iterdir())


def test_disk_full_is_a_clear_error_with_nothing_kept(tmp_path, monkeypatch):
    store = Store(tmp_path)

    def full(self, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    with pytest.raises(StoreError) as e:
        save_one(store)
    assert "No space left on device" in str(e.value) and "nothing was kept" in str(e.value)
    monkeypatch.undo()
    assert not list((tmp_path / "runs").iterdir())


def test_leftover_temporaries_are_cleaned(tmp_path):
    store = Store(tmp_path)
    (tmp_path / "runs" / ".abc.xyz.tmp").mkdir(parents=True)
    store.clean_temporaries()
    assert not (tmp_path / "runs" / ".abc.xyz.tmp").exists()
