"""The progress line's time left: big networks teach the arithmetic rate, small ones the cost per step."""

import pytest

from experiments.plan import Estimate, Progress


def test_slow_small_runs_do_not_slow_the_estimate_for_big_ones():
    big1, sweep, big2 = Estimate("big1", False, 1, 20_000.0, steps=1_000), \
        Estimate("sweep", False, 40, 200.0, steps=400_000), Estimate("big2", False, 1, 20_000.0, steps=1_000)
    p = Progress([big1, sweep, big2], rate_gflops=50.0)
    fixed = Progress.RUN_FIXED_S
    p.measured(big1.gflop, 200.0 + fixed + 1_000 * p.overhead, big1.runs, big1.steps)   # arithmetic-bound
    assert p.rate == pytest.approx(100.0)
    p.measured(sweep.gflop, 2.0 + 40 * fixed + 400.0, sweep.runs, sweep.steps)   # 2 s of arithmetic, 1 ms a step
    assert p.rate == pytest.approx(100.0)
    assert p.overhead == pytest.approx(1e-3)
    assert p.seconds(big2) == pytest.approx(200.0 + fixed + 1.0)
    assert "about 3.4 min left" in p.prefix("big2")


def test_the_cost_beyond_flops_is_charged_by_the_steps_a_run_trains():
    # Charged per run, the sweeps' cost (10,000 steps a run) priced HUJI 4's 44 packed runs of 3,000 steps
    # 10 minutes over the 29.5 they took (2026-12-03, Intel Xeon).
    sweep = Estimate("sweep", False, 45, 10.0, steps=45 * 10_000)
    short = Estimate("short", False, 44, 10.0, steps=44 * 3_000)
    p = Progress([sweep, short], rate_gflops=100.0)
    p.measured(sweep.gflop, 0.1 + 45 * Progress.RUN_FIXED_S + 450.0, sweep.runs, sweep.steps)
    assert p.seconds(short) == pytest.approx(0.1 + 44 * Progress.RUN_FIXED_S + 132.0)


def test_nothing_measured_keeps_the_given_rate_and_cost():
    e = Estimate("q", False, 2, 600.0, steps=1_000)
    p = Progress([e], rate_gflops=60.0, overhead_s=3e-3)
    p.measured(0.0, 10.0, 2, 1_000)
    assert p.seconds(e) == pytest.approx(10.0 + 2 * Progress.RUN_FIXED_S + 3.0)


def test_a_question_that_reused_its_runs_teaches_nothing():
    # huji.3.3 planned 6 timed runs but found them trained: 0.4 s for 6 runs' FLOPs once made the remembered
    # rate 1.2 million GFLOP/s, and the next command said "0.2 min left" before 35 minutes of CIFAR-10.
    e = Estimate("huji.3.3", False, 6, 20_000.0, steps=6_000)
    p = Progress([e], rate_gflops=100.0, overhead_s=2e-3)
    reused = {"cache_hit": False, "wall_seconds": 0.4, "runs": [{"cache_hit": True}] * 6}
    assert not p.finished(e, reused)   # False: nothing for Ex1_main to remember
    assert p.rate == 100.0 and not p.done_s and not p.overhead_steps
    resumed = {"cache_hit": False, "wall_seconds": 30.0, "runs": [{"cache_hit": False, "resumed_from": 900}] * 6}
    p.finished(e, resumed)
    assert p.rate == 100.0 and not p.done_s and not p.overhead_steps
    trained = {"cache_hit": False, "wall_seconds": 221.0, "runs": [{"cache_hit": False, "resumed_from": 0}] * 6}
    assert p.finished(e, trained)
    assert p.rate == pytest.approx(20_000.0 / (221.0 - 6 * Progress.RUN_FIXED_S - 6_000 * 2e-3))


def test_only_what_was_measured_is_remembered(tmp_path):
    from types import SimpleNamespace

    from experiments.plan import PER_STEP, remember_rate, remembered_rate

    ctx = SimpleNamespace(store=SimpleNamespace(root=tmp_path), precision="float32")
    remember_rate(ctx, None, 1.234e-3)          # only small runs finished: the rate was a guess
    assert remembered_rate(ctx) is None and remembered_rate(ctx, PER_STEP) == 1.234e-3
    remember_rate(ctx, 100.0)
    assert remembered_rate(ctx) == 100.0 and remembered_rate(ctx, PER_STEP) == 1.234e-3


def test_the_plan_reads_stored_histories_so_later_choices_match_the_real_run(tmp_path, data_dir):
    # A question that chooses from its runs' histories (a learning rate, a network) must plan the runs it will
    # really train next: with placeholder histories every candidate ties, and the plan once counted 38 minutes
    # of CIFAR-10 runs for another rate than the one chosen, when all were stored.
    import pandas as pd

    from ex1.runner import RunSpec, get_profile
    from ex1.store import Store
    from ex1.train import HISTORY_COLUMNS, TrainConfig
    from experiments.plan import _PlanContext

    ctx = _PlanContext(get_profile("quick"), Store(tmp_path / "store"), str(data_dir), log=lambda s: None)
    stored, missing = (RunSpec("huji_cnn", TrainConfig(steps=100, eval_every=50, seed=s)) for s in (0, 1))
    history = pd.DataFrame({c: [0.0, 0.5, 0.25] for c in HISTORY_COLUMNS}).assign(step=[0, 50, 100])
    params = pd.DataFrame({"layer": ["dense"], "type": ["Dense"], "output_shape": ["(None, 10)"], "params": [10]})
    ctx.store.save("runs", ctx.run_key(stored), {"history": history, "params": params}, {"train_seconds": 1.0})
    assert ctx.train(stored).history["heldout_accuracy"].tolist() == [0.0, 0.5, 0.25]
    assert ctx.train(missing).history["heldout_accuracy"].tolist() == [1.0, 1.0, 1.0]   # a placeholder
    assert ctx.planned == [stored, missing]


def test_a_checkpointed_run_is_priced_by_the_steps_it_has_left(tmp_path, data_dir):
    # A command killed inside Bonn P4 left a checkpoint at step 5,400 of 54,000; the next command priced that run
    # as if it started again (and at a guessed rate: the learned one was written only at the end, never reached).
    import json

    import numpy as np

    import experiments
    from Ex1_main import make_context
    from experiments.plan import _NeedsTrainedModel, _PlanContext, estimate

    ctx = make_context("quick", str(data_dir), str(tmp_path), log=lambda s: None)
    q = experiments.QUESTIONS["huji.1.2"]
    whole = estimate([q], ctx)[0]
    plan = _PlanContext(ctx.profile, ctx.store, ctx.data_dir, ctx.precision, log=lambda s: None)
    with pytest.raises(_NeedsTrainedModel):   # the plan ends where the question first uses its trained network
        q.fn(q.config(plan), plan)
    (spec,) = plan.planned
    folder = ctx.store.root / "checkpoints" / ctx.run_key(spec)
    folder.mkdir(parents=True)
    step = spec.config.steps * 3 // 4
    from ex1.train import HISTORY_COLUMNS

    history = [{c: 0.0 for c in HISTORY_COLUMNS} | {"step": step}]   # a meta record the loop would resume from
    np.savez(folder / "checkpoint.npz", meta=np.frombuffer(json.dumps({"step": step, "history": history}).encode(),
                                                           np.uint8))
    rest = estimate([q], ctx)[0]
    assert rest.runs == whole.runs == 1
    assert rest.gflop == pytest.approx(whole.gflop / 4)
    assert rest.steps == pytest.approx(whole.steps / 4, abs=1) and whole.steps > 0
    (folder / "checkpoint.npz").write_bytes(b"not an archive")   # damaged: the loop reports it; priced whole
    assert estimate([q], ctx)[0].gflop == pytest.approx(whole.gflop)


def test_a_network_that_trains_faster_per_flop_is_priced_by_its_own_speed(tmp_path, data_dir, monkeypatch):
    # One rate, learned on the HUJI network, priced the two-digit network (5.3) at 27 minutes and Bonn P4 at 99 that
    # took 17 and 67 (2026-12-03, Intel Xeon): per FLOP they train up to twice as fast.
    import experiments
    from Ex1_main import make_context
    from experiments import plan

    ctx = make_context("quick", str(data_dir), str(tmp_path), log=lambda s: None)
    q = experiments.QUESTIONS["huji.5.1"]
    monkeypatch.setattr(plan, "TIMED_GFLOP", 0.0)   # the quick profile's runs are too small to be timed
    timed = []

    def fake_rate(model_name, kwargs, batch=50, precision="float32", steps=10, repeats=1):
        timed.append(model_name)
        return 100.0 if (model_name, kwargs, batch) == plan.SPEED_REFERENCE else 200.0

    monkeypatch.setattr(plan, "network_rate", fake_rate)
    untimed = plan.estimate([q], ctx, time_networks=False)[0]   # --list: no timing, no factor yet
    assert timed == [] and untimed.runs >= 1
    fast = plan.estimate([q], ctx)[0]
    assert timed and set(timed) <= {"huji_cnn", "pair_cnn"} and "pair_cnn" in timed
    assert fast.gflop == pytest.approx(untimed.gflop / 2)
    assert fast.steps == untimed.steps > 0   # a step's cost beyond its FLOPs is not the arithmetic's speed
    timed.clear()
    assert plan.estimate([q], ctx, time_networks=False)[0].gflop == pytest.approx(untimed.gflop / 2)   # remembered
    assert timed == []


def test_a_network_is_timed_for_real():
    from experiments.plan import network_rate

    assert network_rate("pair_cnn", {"head": "digits"}, 8, steps=2) > 0


def test_a_resumed_command_goes_on_learning_from_what_earlier_ones_measured(tmp_path):
    # Remembering the rate alone, a resumed full run's first question replaced it: HUJI 5.2 alone moved the time
    # left from 222 to 290 minutes (2026-12-04). The evidence behind the rate is remembered and added to.
    from types import SimpleNamespace

    from experiments.plan import PER_STEP, remember_progress, remembered_evidence, remembered_rate

    ctx = SimpleNamespace(store=SimpleNamespace(root=tmp_path), precision="float32")
    fixed = Progress.RUN_FIXED_S
    first = Progress([], rate_gflops=40.0)
    first.measured(60_000.0, 1_000.0 + fixed, 1, 0)          # 60 GFLOP/s over 1,000 s
    first.measured(1.0, 100.0 + fixed, 1, 50_000)             # 2 ms a step
    remember_progress(ctx, first)
    assert remembered_rate(ctx) == pytest.approx(60.0) and remembered_rate(ctx, PER_STEP) == pytest.approx(2e-3, 0.01)

    again = Progress([], remembered_rate(ctx), remembered_rate(ctx, PER_STEP), remembered_evidence(ctx))
    assert again.rate == pytest.approx(60.0)
    again.measured(20_000.0, 500.0 + fixed, 1, 0)             # a slower question: 40 GFLOP/s over 500 s
    assert again.rate == pytest.approx(80_000.0 / 1_500.0)   # pooled with the first command's 1,000 s, not 40
    assert Progress([], 40.0, None, {}).rate == 40.0          # nothing remembered: the given rate
    (tmp_path / "rate.json").write_text("{broken")
    assert remembered_evidence(ctx) == {}
