"""Fused training: models of several widths, structures and seeds trained as one network give the histories
and weights they give alone, resume together, and are stored each under its own key."""

from dataclasses import replace

import numpy as np
import pytest

from ex1 import fused, train
from ex1.runner import Context, RunSpec, get_profile
from ex1.store import Store
from tests.conftest import Interrupt, MEASURED, builder, kill_at, synthetic_images

# Only the order of additions inside the wide and stacked layers differs from a lone run: after 200 Adam
# steps the losses agree to about 2e-7 and the weights to about 2e-6 here. The bound leaves room for other
# CPUs, not for a different run.
RTOL, ATOL = 1e-4, 1e-4


@pytest.fixture(scope="module")
def tiny():
    xtr, ytr = synthetic_images(600, (28, 28), 1)
    xte, yte = synthetic_images(200, (28, 28), 2)
    return xtr, ytr, xte, yte


# Widths that need padding within a stack (2 and 4 filters behind pool 6), two kernel sizes and a stride
# (three first convolutions), pools of 3, 4 and 6, and deep networks of different widths at every layer.
SHALLOW = [builder("shallow_cnn", filters=f, kernel_size=k, strides=s, pool=p)
           for f, k, s, p in ((2, 5, 1, 6), (4, 5, 1, 6), (1, 5, 1, 4), (3, 5, 1, 3), (2, 7, 1, 4), (2, 5, 2, 2))]
DEEP = [builder("huji_cnn", filters=(f1, f2), dense_units=h, dropout=0.0) for f1, f2, h in ((1, 2, 8), (3, 4, 6),
                                                                                           (2, 3, 12))]
# The sweeps' own rates. At 3e-3 one of these models (seed 8, deep 3-4-6) turns rounding differences of 1e-8
# after 5 steps into 1e-4 after 20 and 7e-3 after 50 (measured, trained alone against fused): that run is
# chaotic, not the fusion wrong, and a comparison after 200 steps would test the chaos.
CFG = train.TrainConfig(steps=200, batch_size=20, optimizer="adam", lr_boundaries=(150,), lr_values=(1e-3, 1e-4),
                        eval_every=50, train_eval_size=300, seed=7)
# Two seeds (two data orders); the second lane holds only some of the models.
LANES = [SHALLOW + DEEP, [SHALLOW[0], SHALLOW[4], DEEP[1]]]
CONFIGS = [CFG, replace(CFG, seed=8)]


def test_fused_runs_train_as_they_would_alone(tiny):
    together = fused.train_fused(LANES, CONFIGS, *tiny, log=lambda s: None)
    assert [len(r) for r in together] == [len(lane) for lane in LANES]
    for lane, cfg, results in zip(LANES, CONFIGS, together):
        for build, res in zip(lane, results):
            alone = train.train(build, *tiny, cfg, log=lambda s: None)
            np.testing.assert_allclose(res.history[MEASURED].to_numpy(), alone.history[MEASURED].to_numpy(),
                                       rtol=RTOL, atol=ATOL)
            for a, b in zip(res.model.variables, alone.model.variables):   # each gets its own weights back
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=RTOL, atol=ATOL)
            assert res.extra["trained_with"] == sum(len(x) for x in LANES)
    assert together[0][0].history["heldout_accuracy"].iloc[-1] > 0.5   # they learned: chance is 0.1


def test_a_killed_fused_run_resumes_every_model_to_the_same_result(tiny, tmp_path):
    lanes = [SHALLOW[:2], SHALLOW[:1]]
    whole = fused.train_fused(lanes, CONFIGS, *tiny, log=lambda s: None)
    with pytest.raises(Interrupt):
        fused.train_fused(lanes, CONFIGS, *tiny, checkpoint_dir=tmp_path, log=kill_at(150))
    lines = []
    resumed = fused.train_fused(lanes, CONFIGS, *tiny, checkpoint_dir=tmp_path, log=lines.append)
    assert any("resuming all 3 at step 100 " in s for s in lines)
    for a, b in zip([r for lane in resumed for r in lane], [r for lane in whole for r in lane]):
        assert a.resumed_from == 100
        np.testing.assert_allclose(a.history[MEASURED].to_numpy(), b.history[MEASURED].to_numpy(),
                                   rtol=1e-5, atol=1e-6)
        for x, y in zip(a.model.variables, b.model.variables):
            np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-5, atol=1e-6)


def test_what_cannot_train_fused_is_refused_with_the_reason(tiny):
    with_dropout = builder("huji_cnn", filters=(2, 3), dense_units=8, dropout=0.5)
    with pytest.raises(ValueError, match="chains of Conv2D"):
        fused.train_fused([[with_dropout]], [CFG], *tiny, log=lambda s: None)
    with pytest.raises(ValueError, match="Adam"):
        fused.train_fused([SHALLOW[:1]], [replace(CFG, optimizer="momentum")], *tiny, log=lambda s: None)
    with pytest.raises(ValueError, match="seed only"):
        fused.train_fused([SHALLOW[:1], SHALLOW[:1]], [CFG, replace(CFG, seed=8, steps=100)], *tiny,
                          log=lambda s: None)


def test_the_context_fuses_every_seed_and_stores_each_run_under_its_own_key(tmp_path, data_dir):
    ctx = Context(get_profile("quick"), Store(tmp_path / "store"), data_dir=str(data_dir), log=lambda s: None)
    cfg = ctx.train_config(40)
    specs = [RunSpec("shallow_cnn", replace(cfg, seed=seed), {"filters": f, "kernel_size": k, "pool": 4},
                     label=f"f{f} k{k} s{seed}", validation=200, fused=True)
             for f, k in ((1, 5), (2, 5), (2, 7)) for seed in (0, 1)]
    runs = ctx.train_all(specs)
    assert [r.spec.label for r in runs] == [s.label for s in specs]
    assert [r.record["trained_with"] for r in runs] == [6] * 6   # one network: three models, two seeds
    assert len({ctx.run_key(s) for s in specs}) == len(specs)
    # The engine is part of a run's identity: the same run trained alone or packed is another entry.
    assert ctx.run_key(specs[0]) != ctx.run_key(replace(specs[0], fused=False))
    again = Context(get_profile("quick"), Store(tmp_path / "store"), data_dir=str(data_dir), log=lambda s: None)
    reused = again.train_all(specs)
    assert all(r.cache_hit for r in reused)
    for a, b in zip(runs, reused):
        assert a.history.equals(b.history)


def test_several_models_in_emulated_bfloat16_train_one_by_one(tmp_path, data_dir, monkeypatch):
    """TensorFlow has no CPU gradient for the grouped convolutions of fused deep models in bfloat16 unless the CPU
    has it natively (a graph error after minutes of other training, on AVX2): refused there, so the context
    trains such runs one by one."""
    from ex1 import machine

    monkeypatch.setattr(machine, "has_native_bf16", lambda: False)
    bf16 = replace(CFG, steps=20, eval_every=10, precision="mixed_bfloat16")
    with pytest.raises(ValueError, match="native bfloat16"):
        fused.train_fused([DEEP[:2]], [bf16], *synthetic_images(100, (28, 28), 1), *synthetic_images(50, (28, 28), 2),
                          log=lambda s: None)
    ctx = Context(get_profile("quick"), Store(tmp_path / "store"), data_dir=str(data_dir), precision="mixed_bfloat16",
                  log=lambda s: None)
    cfg = ctx.train_config(20)
    specs = [RunSpec("huji_cnn", replace(cfg, seed=seed, optimizer="adam"),
                     {"filters": (2, 3), "dense_units": 8, "dropout": 0.0}, label=f"s{seed}", validation=200,
                     fused=True) for seed in (0, 1)]
    runs = ctx.train_all(specs)
    assert [r.record["trained_with"] for r in runs] == [1, 1]
    assert all(np.isfinite(r.history["train_loss"]).all() for r in runs)
