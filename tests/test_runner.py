"""Run specs: the validation hold-out, and cache keys that change exactly when the run would."""

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ex1.runner import Context, RunSpec, get_profile, hold_out
from ex1.store import Store
from ex1.train import TrainConfig


def test_hold_out_draws_a_fixed_random_split_and_rejects_impossible_sizes():
    x, y = np.arange(1000)[:, None], np.arange(1000)
    xt, yt, xv, yv = hold_out(x, y, 100)
    assert len(yv) == 100 and len(yt) == 900
    assert sorted(yt.tolist() + yv.tolist()) == list(range(1000))   # a partition: nothing lost or repeated
    assert (xv[:, 0] == yv).all() and (xt[:, 0] == yt).all()        # images keep their labels
    assert yv.max() - yv.min() > 500, "drawn across the set, not one end of it"
    assert hold_out(x, y, 100)[3].tolist() == yv.tolist()            # the same draw every time
    assert hold_out(x, y, 100, seed=1)[3].tolist() != yv.tolist()
    for n in (0, 1000, 1001):
        with pytest.raises(ValueError, match="validation hold-out must be between 1 and 999"):
            hold_out(x, y, n)


def test_keys_differ_by_validation_dataset_and_config_but_not_by_label(tmp_path, data_dir):
    ctx = Context(get_profile("quick"), Store(tmp_path / "store"), data_dir=str(data_dir))
    spec = RunSpec("bonn_cnn", TrainConfig(steps=10), label="a")
    keys = {ctx.run_key(spec), ctx.run_key(replace(spec, validation=100)), ctx.run_key(replace(spec, dataset="cifar10")),
            ctx.run_key(replace(spec, config=replace(spec.config, learning_rate=0.5)))}
    assert len(keys) == 4
    assert ctx.run_key(replace(spec, label="b")) == ctx.run_key(spec)


def test_a_cifar_spec_builds_with_three_channels():
    spec = RunSpec("bonn_cnn", TrainConfig(steps=10), dataset="cifar10")
    assert spec.build_kwargs()["input_shape"] == (32, 32, 3)
    assert spec.full_model_kwargs()["input_shape"] == (32, 32, 3)
    assert "input_shape" not in RunSpec("bonn_cnn", TrainConfig(steps=10)).build_kwargs()


def test_the_floor_prices_each_run_at_the_peak_of_its_own_precision(monkeypatch):
    import pandas as pd

    from ex1 import bench

    cfg = {**TrainConfig(steps=100, eval_every=50).__dict__}
    runs = pd.DataFrame([{"question": "q", "label": p, "model": "softmax_regression", "model_kwargs": {},
                          "config": {**cfg, "precision": p, "lr_boundaries": [], "lr_values": []},
                          "train_examples": 60000, "validation": None, "wall_seconds": 1.0,
                          "images_per_second": 1.0} for p in ("float32", "mixed_bfloat16")])
    monkeypatch.setattr(bench, "stored_runs", lambda root, profile: runs)
    df = bench.budget("unused", {"float32": 50.0, "mixed_bfloat16": 200.0}).set_index("run")
    assert df.loc["float32", "train_tflop"] == df.loc["mixed_bfloat16", "train_tflop"]
    assert df.loc["float32", "floor_s"] == pytest.approx(4 * df.loc["mixed_bfloat16", "floor_s"])
    assert list(df["peak_gflops"]) == [50.0, 200.0]


def test_keys_record_which_cpu_kernels_train_the_run(tmp_path, data_dir, monkeypatch):
    """oneDNN and Eigen kernels differ in the last bits: a store never mixes runs of the two."""
    from ex1 import machine

    ctx = Context(get_profile("quick"), Store(tmp_path / "store"), data_dir=str(data_dir))
    spec = RunSpec("bonn_cnn", TrainConfig(steps=10))
    keys = set()
    for on in (True, False):
        monkeypatch.setattr(machine, "onednn_enabled", lambda on=on: on)
        keys.add(ctx.run_key(spec))
    assert len(keys) == 2


def test_importing_ex1_turns_onednn_on_unless_the_user_chose(tmp_path):
    import subprocess
    import sys

    code = ("import ex1, tensorflow\nfrom ex1 import machine\nprint(machine.onednn_enabled())")
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    root = str(Path(__file__).resolve().parents[1])
    default = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True)
    off = subprocess.run([sys.executable, "-c", code], env={**env, "TF_ENABLE_ONEDNN_OPTS": "0"}, cwd=root,
                         capture_output=True, text=True)
    assert default.stdout.split()[-1] == "True", default.stderr[-2000:]
    assert off.stdout.split()[-1] == "False", off.stderr[-2000:]


def test_the_budget_counts_a_packed_runs_share_of_the_wall_clock_and_the_steps_it_trained(monkeypatch):
    """Runs trained together share one wall clock; a run that stopped once flat trained fewer steps."""
    import pandas as pd

    from ex1 import bench

    cfg = {**TrainConfig(steps=100, eval_every=50).__dict__, "lr_boundaries": [], "lr_values": []}
    runs = pd.DataFrame([{"question": "q", "label": label, "model": "softmax_regression", "model_kwargs": {},
                          "config": cfg, "train_examples": 60000, "validation": None, "wall_seconds": 8.0,
                          "images_per_second": 1.0, "trained_with": n, "final_step": step}
                         for label, n, step in (("alone", 1, 100), ("packed", 4, 100), ("flat", 1, 50))])
    monkeypatch.setattr(bench, "stored_runs", lambda root, profile: runs)
    df = bench.budget("unused", 50.0).set_index("run")
    assert df.loc["alone", "measured_s"] == 8.0 and df.loc["packed", "measured_s"] == 2.0
    assert df.loc["flat", "steps"] == 50
    assert df.loc["flat", "train_tflop"] == pytest.approx(df.loc["alone", "train_tflop"] / 2)


def test_every_module_a_run_is_keyed_by_is_in_every_question_s_key():
    # A stored answer is served by its question's key without looking at its runs: if a run's code could
    # change without the question's key changing, the answer would keep runs trained by the old code.
    import experiments
    from ex1 import models, runner
    from experiments.registry import question_code_deps

    run_files = {dep.split(":")[0] for model in models._REGISTRY
                 for dep in runner.run_code_deps(model, pairs=True, validation=True, fused=True)}
    assert "the training engine's version" in run_files
    for q in experiments.QUESTIONS.values():
        assert run_files <= set(question_code_deps(q)), q.id


def test_a_stored_run_edited_with_its_checksums_trains_again(tmp_path, data_dir):
    # The store vouches for wholeness (checksums); a run's reader checks that the entry holds a run.
    import hashlib
    import json

    from ex1.runner import Context, RunSpec
    from ex1.store import Store

    lines = []
    ctx = Context(get_profile("quick"), Store(tmp_path / "s"), data_dir=str(data_dir), log=lines.append)
    spec = RunSpec("shallow_cnn", ctx.train_config(20), {"filters": 2}, label="tiny")
    first = ctx.train(spec)
    entry = ctx.store.path("runs", ctx.run_key(spec))
    (entry / "tables" / "history.csv").write_text("step,loss\n0,1\n")
    doc = json.loads((entry / "record.json").read_text())
    doc["files"]["tables/history.csv"] = hashlib.sha256(b"step,loss\n0,1\n").hexdigest()
    (entry / "record.json").write_text(json.dumps(doc))
    again = Context(get_profile("quick"), Store(tmp_path / "s"), data_dir=str(data_dir), log=lines.append)
    run = again.train(spec)
    measured = ["step", "epoch", "train_loss", "train_accuracy", "heldout_loss", "heldout_accuracy", "learning_rate"]
    assert not run.cache_hit and run.history[measured].equals(first.history[measured])
    assert sum("is not a whole run (its history lacks columns or rows): it trains again" in s for s in lines) == 1


def test_the_budget_prices_the_answer_this_code_reads_not_the_newest_on_disk(tmp_path):
    # A 3,000-step Q4 curve run, tried and reverted, left a newer huji.4 answer in the store; the budget priced it
    # instead of the 1,000-step run the code reads, and the full profile's work read 0.7 points too high.
    import json
    import os

    from ex1 import bench, codehash, golden

    deps = {**codehash.code_versions("ex1.data"), "the training engine's version": str(golden.ENGINE_VERSION)}
    run = {"model": "huji_cnn", "model_kwargs": {}, "dataset": "mnist", "train_examples": 250}

    def answer(key, code, steps, mtime):
        folder = tmp_path / "questions" / "huji.4" / key
        folder.mkdir(parents=True)
        record = {"key_payload": {"profile": {"name": "full"}}, "code_deps": code,
                  "runs": [{**run, "config": {"steps": steps}}]}
        (folder / "record.json").write_text(json.dumps({"record": record}))
        os.utime(folder / "record.json", (mtime, mtime))

    answer("read", deps, 1000, 1_000)
    answer("trial", {**deps, "ex1/data.py": "0" * 16}, 3000, 2_000)    # newer, from code no longer checked out
    assert [r["steps"] for r in bench.stored_runs(tmp_path).config] == [1000]
    answer("older-engine", {**deps, "the training engine's version": "0"}, 2000, 3_000)
    assert [r["steps"] for r in bench.stored_runs(tmp_path).config] == [1000]
    (tmp_path / "questions" / "huji.4" / "read" / "record.json").unlink()
    (tmp_path / "questions" / "huji.4" / "read").rmdir()
    # none matches this checkout: the newest stands in, as before
    assert [r["steps"] for r in bench.stored_runs(tmp_path).config] == [2000]


def test_a_run_stored_under_the_old_column_names_is_read_not_retrained(tmp_path, data_dir):
    # Before 2026-12-03 a history's held-out columns were test_loss/test_accuracy (validation images included) and
    # a record said packed_with, fused runs too. Renaming changes no number: a user's stored runs must still serve.
    from ex1.runner import Context, RunSpec, trained_with, wall_share
    from ex1.store import Store
    from ex1.train import LEGACY_HISTORY_NAMES

    ctx = Context(get_profile("quick"), Store(tmp_path / "s"), data_dir=str(data_dir), log=lambda s: None)
    spec = RunSpec("shallow_cnn", ctx.train_config(20), {"filters": 2}, label="tiny")
    first = ctx.train(spec)
    key = ctx.run_key(spec)
    entry = ctx.store.load("runs", key)
    old_names = {new: old for old, new in LEGACY_HISTORY_NAMES.items()}
    record = {k: v for k, v in entry.record.items() if k != "trained_with"} | {"packed_with": 1}
    ctx.store.save("runs", key, {"history": entry.tables["history"].rename(columns=old_names),
                                 "params": entry.tables["params"]}, record, entry.arrays)
    assert "test_accuracy" in (ctx.store.path("runs", key) / "tables" / "history.csv").read_text()
    again = Context(get_profile("quick"), Store(tmp_path / "s"), data_dir=str(data_dir), log=lambda s: None)
    run = again.train(spec)
    assert run.cache_hit and run.history.equals(first.history)
    assert trained_with({"packed_with": 6}) == 6 and trained_with({"trained_with": 3}) == 3 and trained_with({}) == 1
    assert wall_share({"wall_seconds": 60.0, "packed_with": 3}) == 20.0


def test_a_checkpoint_written_under_the_old_column_names_resumes():
    import json

    import numpy as np

    from ex1.train import _checkpoint_meta

    old = [{"step": s, "epoch": 0.0, "train_loss": 1.0, "train_accuracy": 0.5, "test_loss": 1.0,
            "test_accuracy": 0.5, "wall_s": 1.0, "train_s": 1.0, "learning_rate": 0.1} for s in (0, 50)]
    meta = lambda h: np.frombuffer(json.dumps({"step": 50, "history": h}).encode(), dtype=np.uint8)   # noqa: E731
    step, history = _checkpoint_meta(meta(old), None)
    assert step == 50 and history[-1]["heldout_accuracy"] == 0.5 and "test_accuracy" not in history[-1]
    step, packed = _checkpoint_meta(meta([old, old]), 2)
    assert [h[-1]["heldout_loss"] for h in packed] == [1.0, 1.0]
