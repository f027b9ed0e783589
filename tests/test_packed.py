"""Packed training: runs trained together give the histories and weights they give alone, resume
together, and are stored each under its own key."""

import numpy as np
import pytest

from ex1 import data, packed, train
from ex1.runner import Context, RunSpec, get_profile
from ex1.store import Store
from tests.conftest import Interrupt, MEASURED, builder, kill_at, synthetic_images

# Only the order of additions inside the wide convolution differs from a lone run: after 200 Adam steps
# the losses agree to about 1e-6 here. The bound leaves room for other CPUs, not for a different run.
RTOL, ATOL = 1e-4, 1e-4


@pytest.fixture(scope="module")
def tiny():
    xtr, ytr = synthetic_images(600, (28, 28), 1)
    xte, yte = synthetic_images(200, (28, 28), 2)
    return data.to_float(xtr), ytr, data.to_float(xte), yte


# Different widths and pools behind one 5x5 first convolution; the deep ones with dropout, so that each
# model's own masks are compared too.
SHALLOW = [builder("shallow_cnn", filters=f, kernel_size=5, pool=p) for f, p in ((2, 6), (1, 4), (3, 3))]
DEEP = [builder("huji_cnn", filters=(f1, 3), dense_units=h, dropout=0.3) for f1, h in ((1, 8), (3, 6), (2, 12))]
CFG = train.TrainConfig(steps=200, batch_size=20, optimizer="adam", lr_boundaries=(150,), lr_values=(3e-3, 3e-4),
                        eval_every=50, train_eval_size=300, seed=7)


@pytest.mark.parametrize("builders", [SHALLOW, DEEP], ids=["shallow", "deep-with-dropout"])
def test_packed_runs_train_as_they_would_alone(tiny, builders):
    together = packed.train_packed(builders, *tiny, CFG, log=lambda s: None)
    for build, res in zip(builders, together):
        alone = train.train(build, *tiny, CFG, log=lambda s: None)
        np.testing.assert_allclose(res.history[MEASURED].to_numpy(), alone.history[MEASURED].to_numpy(),
                                   rtol=RTOL, atol=ATOL)
        for a, b in zip(res.model.variables, alone.model.variables):   # the wide layer's part is handed back
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=RTOL, atol=ATOL)
        assert res.extra["trained_with"] == len(builders)
    assert together[0].history["heldout_accuracy"].iloc[-1] > 0.5   # they learned: chance is 0.1


def test_models_with_different_first_convolutions_are_refused(tiny):
    odd = SHALLOW[:2] + [builder("shallow_cnn", filters=2, kernel_size=7, pool=4)]
    with pytest.raises(ValueError, match="first convolutions of one shape"):
        packed.train_packed(odd, *tiny, CFG, log=lambda s: None)


def test_a_killed_pack_resumes_every_run_to_the_same_result(tiny, tmp_path):
    whole = packed.train_packed(SHALLOW, *tiny, CFG, log=lambda s: None)

    with pytest.raises(Interrupt):
        packed.train_packed(SHALLOW, *tiny, CFG, checkpoint_dir=tmp_path, log=kill_at(150))
    lines = []
    resumed = packed.train_packed(SHALLOW, *tiny, CFG, checkpoint_dir=tmp_path, log=lines.append)
    assert any("resuming all 3 at step 100 " in s for s in lines)
    for a, b in zip(resumed, whole):
        assert a.resumed_from == 100
        np.testing.assert_allclose(a.history[MEASURED].to_numpy(), b.history[MEASURED].to_numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_the_context_packs_runs_of_one_seed_and_stores_each_under_its_own_key(tmp_path, data_dir):
    ctx = Context(get_profile("quick"), Store(tmp_path / "store"), data_dir=str(data_dir), log=lambda s: None)
    cfg = ctx.train_config(40)
    specs = [RunSpec("shallow_cnn", cfg.__class__(**{**cfg.__dict__, "seed": seed}),
                     {"filters": f, "kernel_size": 5, "pool": 4}, label=f"f{f} s{seed}", validation=200)
             for f in (1, 2) for seed in (0, 1)]
    specs.append(RunSpec("shallow_cnn", specs[0].config, {"filters": 2, "kernel_size": 7, "pool": 4}, label="k7",
                         validation=200))
    runs = ctx.train_all(specs)
    assert [r.spec.label for r in runs] == [s.label for s in specs]
    # Seed 0's two 5x5 networks trained together, seed 1's too; the 7x7 one alone.
    assert [r.record["trained_with"] for r in runs] == [2, 2, 2, 2, 1]
    assert len({ctx.run_key(s) for s in specs}) == len(specs)
    again = Context(get_profile("quick"), Store(tmp_path / "store"), data_dir=str(data_dir), log=lambda s: None)
    reused = again.train_all(specs)
    assert all(r.cache_hit for r in reused)
    for a, b in zip(runs, reused):
        assert a.history.equals(b.history)
