"""The results store: round trip, stable keys, damaged and partial entries never read back."""

import os
import shutil
import subprocess
import sys

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


@pytest.mark.parametrize("damage", ["edit_table", "truncate_arrays", "delete_record", "bad_json", "json_list",
                                    "json_null", "entry_is_a_file"])
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
    elif damage == "bad_json":
        (d / "record.json").write_text("{not json")
    elif damage == "json_list":
        (d / "record.json").write_text("[]")
    elif damage == "json_null":
        (d / "record.json").write_text("null")
    else:
        shutil.rmtree(d)
        d.write_text("a plain file where an entry belongs")
    assert store.load("runs", "k1") is None
    assert not d.exists() and store.damaged
    save_one(store)                                   # recomputed: the same key is written again
    assert store.load("runs", "k1").record == {"wall": 1.5}


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
    assert "the disk is full" in str(e.value) and "nothing partial was kept" in str(e.value)
    monkeypatch.undo()
    assert not list((tmp_path / "runs").iterdir())


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_only_temporaries_of_dead_processes_are_cleaned(tmp_path):
    from ex1 import fsutil

    store = Store(tmp_path)
    folder = tmp_path / "questions" / "huji.1.2"          # two levels down, as question entries are
    folder.mkdir(parents=True)
    dead = folder / f".abcdef.{fsutil._HOST}.{dead_pid()}.0123abcd.tmp"
    live = folder / f".abcdef.{fsutil._HOST}.{os.getpid()}.0123abcd.tmp"
    dead_ckpt = tmp_path / "checkpoints" / "k" / f".checkpoint.npz.{fsutil._HOST}.{dead_pid()}.89abcdef.tmp"
    dead_ckpt.parent.mkdir(parents=True)
    for d in (dead, live):
        d.mkdir()
    dead_ckpt.write_bytes(b"partial")
    store.clean_temporaries()
    assert not dead.exists() and not dead_ckpt.exists()
    assert live.exists()                                   # its owner is alive and may still rename it


def test_a_temporary_name_is_unique_and_names_its_owner(tmp_path):
    from ex1 import fsutil

    a, b = fsutil.temp_path(tmp_path, "x"), fsutil.temp_path(tmp_path, "x")
    assert a != b and f".{os.getpid()}." in a.name
    a.write_text("")
    assert not fsutil.owner_gone(a)


def test_a_store_folder_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "store").write_text("")
    with pytest.raises(StoreError, match="store is a file"):
        Store(tmp_path / "store").check()
    (tmp_path / "store").unlink()
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "checkpoints").write_text("")
    with pytest.raises(StoreError, match="checkpoints is a file"):
        Store(tmp_path / "store").check()


def test_replacing_an_entry_keeps_one_whole_entry(tmp_path):
    store = Store(tmp_path)
    save_one(store)
    df = pd.DataFrame({"step": [0], "test_accuracy": [0.5]})
    store.save("runs", "k1", {"history": df}, {"wall": 2.0})
    e = store.load("runs", "k1")
    assert e.record == {"wall": 2.0} and e.arrays == {}
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["k1"]     # nothing left aside


def test_an_entry_of_the_previous_format_is_read_and_a_changed_record_is_not(tmp_path):
    # Format 2 adds the record's own checksum; entries written before it are read as they are.
    import json

    store = Store(tmp_path)
    store.save("runs", "a" * 64, {"t": pd.DataFrame({"x": [1]})}, {"model": "m", "steps": 100})
    path = store.path("runs", "a" * 64) / "record.json"
    doc = json.loads(path.read_text())
    path.write_text(json.dumps(dict(doc, record={"model": "m", "steps": 900})))
    assert store.load("runs", "a" * 64) is None and "checksum mismatch in record.json" in store.damaged[0][1]
    store.save("runs", "b" * 64, {"t": pd.DataFrame({"x": [1]})}, {"model": "m", "steps": 100})
    path = store.path("runs", "b" * 64) / "record.json"
    doc = json.loads(path.read_text())
    del doc["record_sha256"]
    path.write_text(json.dumps(dict(doc, format=1)))
    assert store.load("runs", "b" * 64).record == {"model": "m", "steps": 100}
