"""Run keys name the engine's version, and the golden runs hold the engine to that version's numbers.

A refactor that moves no number keeps every stored run (its key does not hash the engine's source); one that
moves a number without bumping ex1.golden.ENGINE_VERSION fails here, on every kernel kind recorded."""

import pytest

from ex1 import golden, runner
from ex1.runner import Context, RunSpec, get_profile
from ex1.store import Store

ENGINE_FILES = {"ex1/train.py", "ex1/packed.py", "ex1/fused.py", "ex1/layers.py"}


def _recorded_here():
    want = golden.recorded().get(str(golden.ENGINE_VERSION), {}).get(golden.kernel_kind())
    if want is None:
        pytest.skip(f"no golden digests recorded for engine version {golden.ENGINE_VERSION} on "
                    f"{golden.kernel_kind()}: record them with python -m ex1.golden --record, from code whose "
                    "numbers are this version's")
    return want


def test_the_engine_computes_the_numbers_its_version_recorded():
    want = _recorded_here()
    found = golden.digests()
    assert set(found) == set(want), "golden cases were added or renamed: record them (python -m ex1.golden --record)"
    moved = sorted(n for n in want if found[n] != want[n])
    assert not moved, (f"the engine's numbers moved ({'; '.join(moved)}) while ENGINE_VERSION stayed "
                       f"{golden.ENGINE_VERSION}: bump the engine version (ex1.golden.ENGINE_VERSION), then record "
                       "the golden digests again with python -m ex1.golden --record")


def test_a_golden_run_stopped_and_resumed_gives_the_same_bits():
    want = _recorded_here()
    assert golden.digests(resume=True) == want


def test_run_and_question_keys_name_the_engine_version_not_its_source():
    import experiments
    from experiments.registry import question_code_deps

    for model in ("huji_cnn", "shallow_cnn", "pair_cnn"):
        deps = runner.run_code_deps(model, pairs=True, validation=True, fused=True)
        assert deps["the training engine's version"] == str(golden.ENGINE_VERSION)
        assert not ENGINE_FILES & {d.split(":")[0] for d in deps}
    for q in experiments.QUESTIONS.values():
        deps = question_code_deps(q)
        assert deps["the training engine's version"] == str(golden.ENGINE_VERSION), q.id
        assert not ENGINE_FILES & set(deps), q.id


def test_the_legacy_keys_name_the_engine_source_they_were_computed_from():
    deps = runner.run_code_deps("huji_cnn", validation=True, fused=True, legacy=True)
    assert {k: deps[k] for k in ENGINE_FILES} == golden.LEGACY_ENGINE_SOURCE[golden.ENGINE_VERSION]
    assert "ex1/fused.py" not in runner.run_code_deps("huji_cnn", legacy=True)
    assert "the training engine's version" not in deps


def test_a_run_stored_under_its_legacy_key_is_reused_not_retrained(tmp_path, data_dir):
    def context():
        return Context(get_profile("quick"), Store(tmp_path / "store"), data_dir=str(data_dir), log=lambda s: None)

    ctx = context()
    spec = RunSpec("shallow_cnn", ctx.train_config(20), {"filters": 2}, label="tiny")
    first = ctx.train(spec)
    new, old = ctx.run_key(spec), ctx.legacy_run_key(spec)
    assert old is not None and old != new
    # What a store written before run keys named the engine's version holds: the same run under the old key.
    entry = ctx.store.load("runs", new)
    ctx.store.save("runs", old, entry.tables, entry.record, entry.arrays)
    ctx.store.discard("runs", new)
    again = context()
    assert again.stored_run_path(spec) == again.store.path("runs", old)
    reused = again.train(spec)
    assert reused.cache_hit and reused.history.equals(first.history)
    assert not again.store.path("runs", new).exists()
