"""What a command will cost before it runs: the training runs each question would start, their FLOPs,
and minutes at a measured rate. Used for the progress line ([k/N], time left) and for --list.

A question is planned by running its function against a context that records each training run
instead of training it (a placeholder result stands in); the first use of a trained model ends the
plan of that question, since every question trains before it evaluates.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ex1 import models
from ex1.flops import forward_flops, run_flops
from ex1.runner import Context, Run, RunSpec
from ex1.train import HISTORY_COLUMNS, checkpoint_step, current_history

from .registry import Question, find_stored


class _NeedsTrainedModel(Exception):
    pass


class _PlaceholderRun(Run):
    def model(self, *args, **kwargs):
        raise _NeedsTrainedModel

    def predict(self, x, batch: int = 1000):
        raise _NeedsTrainedModel


def _stored(spec: RunSpec, folder: Path) -> Run | None:
    """The stored run's history and parameter table, read without its weights or checksums: what a question
    chooses from them (a learning rate, a network) is then what it will choose when it runs, so the plan
    counts the runs it will train. A missing or unreadable table reads as not stored."""
    try:
        history = current_history(pd.read_csv(folder / "tables" / "history.csv"))
        params = pd.read_csv(folder / "tables" / "params.csv")
        record = json.loads((folder / "record.json").read_text())["record"]
    except (OSError, ValueError, KeyError, TypeError, pd.errors.ParserError):
        return None
    if not set(HISTORY_COLUMNS) <= set(history.columns) or history.empty:
        return None
    return _PlaceholderRun(spec, history, params, record, [], cache_hit=True)


def _placeholder(spec: RunSpec) -> Run:
    steps = spec.config.eval_steps()
    history = pd.DataFrame({c: np.zeros(len(steps)) for c in HISTORY_COLUMNS})
    history["step"] = steps
    history[["train_accuracy", "heldout_accuracy"]] = 1.0
    params = pd.DataFrame({"layer": ["input"], "type": ["InputLayer"], "output_shape": [""], "params": [0]})
    record = {"train_seconds": 0.0, "wall_seconds": 0.0, "images_per_second": 0.0, "model_kwargs": {},
              "config": {}, "dataset": spec.dataset, "train_examples": 0}
    return _PlaceholderRun(spec, history, params, record, [], cache_hit=True)


@dataclass
class _PlanContext(Context):
    planned: list[RunSpec] = field(default_factory=list)

    def train(self, spec: RunSpec) -> Run:
        self.planned.append(spec)
        folder = self.stored_run_path(spec)
        run = (_stored(spec, folder) if folder else None) or _placeholder(spec)
        self.runs.append(run)
        return run

    def train_all(self, specs: list[RunSpec]) -> list[Run]:
        return [self.train(spec) for spec in specs]   # planned, never trained: packing changes no count


@dataclass
class Estimate:
    question: str
    stored: bool                    # the answer is in the store: nothing to train
    runs: int                       # training runs it would start that the store does not hold
    gflop: float                    # their FLOPs (training and evaluation) still to compute
    known: bool = True              # False when the question could not be planned
    steps: int = 0                  # their training steps still to run, summed over the runs


_FWD: dict[str, int] = {}


def _forward(spec: RunSpec) -> int:
    key = json.dumps([spec.model, spec.full_model_kwargs()], sort_keys=True, default=str)
    if key not in _FWD:
        _FWD[key] = forward_flops(models.create_model(spec.model, **spec.build_kwargs()))
    return _FWD[key]


def _examples(spec: RunSpec, ctx: Context) -> tuple[int, int]:
    """(training examples, test examples) of a run, without building its data."""
    ds = ctx.dataset(spec.dataset)
    n_train, n_test = len(ds.y_train), len(ds.y_test)
    if spec.pairs is not None:
        n_train, n_test = spec.pairs.train_pairs, spec.pairs.test_pairs
    if spec.per_class is not None:
        n_train = spec.per_class * ds.num_classes
    if spec.validation is not None:
        n_train, n_test = n_train - spec.validation, spec.validation
    return n_train, n_test


# Networks whose runs together compute less than this are priced at the HUJI network's speed: timing them would
# cost more than their error (the quick profile's runs, the small sweeps' per-run costs dominate anyway).
TIMED_GFLOP = 2000.0


def _network(spec: RunSpec) -> str:
    """What a speed factor is timed and remembered for: the network as built, and its batch."""
    return json.dumps([spec.model, spec.build_kwargs(), spec.config.batch_size], sort_keys=True, default=str)


def estimate(questions: list[Question], ctx: Context, time_networks: bool = True) -> list[Estimate]:
    """The cost of each question that the store does not answer yet; a run shared by several
    questions counts in the first one only, as it is trained once. A run that a killed command checkpointed
    costs only the steps it has left. FLOPs are counted at the HUJI network's speed: a network that computes
    faster per FLOP on this machine counts for fewer (speed_factors; with time_networks=False only the factors an
    earlier command timed, so that --list answers at once)."""
    seen: set[str] = set()
    out, pending = [], []
    for q in questions:
        if find_stored(q, ctx, read=False) is not None:
            out.append(Estimate(q.id, True, 0, 0.0))
            continue
        if not q.datasets:      # the theory questions train nothing
            out.append(Estimate(q.id, False, 0, 0.0))
            continue
        plan = _PlanContext(ctx.profile, ctx.store, ctx.data_dir, ctx.precision, log=lambda s: None)
        try:
            q.fn(q.config(plan), plan)
        except _NeedsTrainedModel:
            pass
        except Exception:  # a question the placeholders cannot carry through: its cost is unknown
            out.append(Estimate(q.id, False, 0, 0.0, known=False))
            continue
        out.append(Estimate(q.id, False, 0, 0.0))
        for spec in plan.planned:
            rkey = ctx.run_key(spec)
            if rkey in seen or ctx.stored_run_path(spec) is not None:
                continue
            seen.add(rkey)
            left = 1.0 - min(checkpoint_step(ctx.store.root / "checkpoints" / rkey) / spec.config.steps, 1.0)
            train_f, eval_f = run_flops(_forward(spec), spec.config, *_examples(spec, ctx))
            pending.append((out[-1], spec, left * (train_f + eval_f) / 1e9, round(left * spec.config.steps)))
    groups: dict[str, list] = {}
    for e, spec, gflop, _ in pending:   # fused sweeps run many networks as one: the learned rate prices them as they are
        if not spec.fused:
            groups.setdefault(_network(spec), []).append((gflop, spec))
    timed = {g: members[0][1] for g, members in groups.items() if sum(m[0] for m in members) >= TIMED_GFLOP}
    factors = speed_factors(timed, ctx, time_networks)
    for e, spec, gflop, steps in pending:
        factor = 1.0 if spec.fused else factors.get(_network(spec), 1.0)
        e.runs, e.gflop, e.steps = e.runs + 1, e.gflop + gflop / factor, e.steps + steps
    return out


# ---------------------------------------------------------------- the rate: measured, remembered, or guessed

def _rate_file(ctx: Context) -> Path:
    return ctx.store.root / "rate.json"


def _key(ctx: Context, what: str = "") -> str:
    from ex1 import machine

    # "since 2026-11-29": rates remembered before Progress.finished could be absurd (a reused question's seconds
    # over FLOPs it never computed), and a too-high rate is never corrected, since no question then looks
    # arithmetic-bound; a new key leaves them unread.
    return f"{machine.cpu_description()} | {ctx.precision}{what} | since 2026-11-29"


# Per step of each run, not per run: a run's cost beyond its FLOPs is mostly the per-operation cost of each step (tiny
# layers, many networks in one graph), so a 3,000-step run costs less of it than a 10,000-step one. Charged per run,
# it priced HUJI 4's 44 packed runs of 3,000 steps 10 minutes over their 29.5 (2026-12-03, Intel Xeon); remembered
# per-run costs are left unread under this new name.
PER_STEP = " | per-step s"


def remembered_rate(ctx: Context, what: str = "") -> float | None:
    """GFLOP/s that training reached on this machine and precision in an earlier command, if any (with
    what=PER_STEP: the seconds a training step cost beyond its FLOPs)."""
    try:
        entry = json.loads(_rate_file(ctx).read_text()).get(_key(ctx, what))
        return float(entry) if entry else None
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def remember_rate(ctx: Context, gflops: float | None, overhead_s: float | None = None) -> None:
    """Store what this command measured; a value it only guessed (None) leaves the remembered one alone."""
    values = {}
    if gflops is not None:
        values[_key(ctx)] = round(gflops, 2)
    if overhead_s is not None:
        values[_key(ctx, PER_STEP)] = float(f"{overhead_s:.4g}")
    _remember(ctx, values)


# What the rate and the per-step cost were learned from, summed over commands: a resumed or second command goes on
# learning from it. Remembering the rate alone, the first question a resumed command measured replaced it: HUJI 5.2
# alone moved the time left from 222 to 290 minutes (2026-12-04, AMD EPYC AVX2, a full run resumed after 5.1).
EVIDENCE = " | evidence"


def remembered_evidence(ctx: Context) -> dict[str, float]:
    """{"gflop", "gflop_s", "steps", "steps_s"}: the GFLOP and seconds of earlier questions bound by arithmetic, and
    the training steps and seconds of those bound by per-step cost, on this machine and precision; {} if none."""
    try:
        entry = json.loads(_rate_file(ctx).read_text()).get(_key(ctx, EVIDENCE))
        out = {k: float(entry[k]) for k in ("gflop", "gflop_s", "steps", "steps_s")}
        return out if all(v >= 0 for v in out.values()) else {}
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return {}


def remember_progress(ctx: Context, progress: Progress) -> None:
    """Store what the command measured so far: the rate and per-step cost it learned, and their evidence."""
    remember_rate(ctx, progress.rate if progress.done_s else None,
                  progress.overhead if progress.overhead_steps else None)
    _remember(ctx, {_key(ctx, EVIDENCE): progress.evidence()})


def _remember(ctx: Context, values: dict[str, float]) -> None:
    from ex1.fsutil import write_atomically

    try:
        doc = json.loads(_rate_file(ctx).read_text())
        doc = doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        doc = {}
    doc.update(values)
    try:
        _rate_file(ctx).parent.mkdir(parents=True, exist_ok=True)   # a new results folder: nothing stored yet
        write_atomically(_rate_file(ctx), lambda tmp: tmp.write_text(json.dumps(doc, indent=1)), "a rate")
    except Exception:  # an estimate is not worth failing a command for
        pass


def guessed_rate(precision: str, steps: int = 10) -> float:
    """GFLOP/s of a few training steps of the HUJI network (SPEED_REFERENCE: batch 50, Adam, this precision), timed
    after tracing: the unit the learned rate is counted in. Half the matmul peak, the guess until 2026-12-03, was
    three times too fast where AMX multiplies bfloat16 matrices far faster than these small convolutions run (Intel
    Xeon: it said 67 minutes for a full profile of about three hours). Costs about two seconds."""
    return network_rate(*SPEED_REFERENCE, precision, steps)


# The network the learned rate is counted in: the HUJI sheet's, as question 1.2 trains it (the run a from-empty command
# learns its rate from first, and the largest of the HUJI sheet's).
SPEED_REFERENCE = ("huji_cnn", {"dropout": 0.5}, 50)


def network_rate(model_name: str, kwargs: dict, batch: int = 50, precision: str = "float32", steps: int = 10,
                 repeats: int = 1) -> float:
    """GFLOP/s of a few training steps of one network (Adam, this precision) on random inputs of its shape, timed
    after tracing (the fastest of `repeats` timings). The loss is the outputs' mean square, which fits every
    network's heads and costs nothing."""
    import keras
    import tensorflow as tf

    model = models.create_model(model_name, **kwargs, **({} if precision == "float32" else {"dtype": precision}))
    opt = keras.optimizers.Adam(1e-4)
    x = tf.constant(np.random.default_rng(0).random((batch, *model.input.shape[1:]), dtype=np.float32))

    @tf.function
    def block(n):   # steps inside one graph call, as ex1.loop trains them
        for _ in tf.range(n):
            with tf.GradientTape() as tape:
                loss = tf.add_n([tf.reduce_mean(tf.square(tf.cast(o, tf.float32)))
                                 for o in tf.nest.flatten(model(x, training=True))])
            opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return opt.iterations

    block(tf.constant(2)).numpy()   # tracing, and the first steps' allocations
    seconds = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        block(tf.constant(steps)).numpy()
        seconds = min(seconds, (time.perf_counter() - t) / steps)
    return 3 * batch * forward_flops(model) / seconds / 1e9


def speed_factors(networks: dict[str, RunSpec], ctx: Context, time_networks: bool = True) -> dict[str, float]:
    """Per network (_network: the model as built, and its batch), how much faster than the HUJI network it trains per FLOP on this machine: the
    rate the estimate learns is the HUJI network's, and the two-digit and CIFAR-10 networks run up to twice as fast
    (2026-12-03, Intel Xeon: a from-empty run priced 5.3 at 27 minutes and Bonn P4 at 99 that took 17 and 67).
    Timed once per network and machine (a few seconds each, before any training) and remembered beside the rate; a
    network not timed yet counts at 1 when time_networks is False."""
    out, ref = {}, None
    for key, spec in networks.items():
        what = f" | speed {key}"
        model_name, kwargs, batch = spec.model, spec.build_kwargs(), spec.config.batch_size
        factor = 1.0 if (model_name, kwargs, batch) == SPEED_REFERENCE else remembered_rate(ctx, what)
        if factor is None and not time_networks:
            continue
        if factor is None:   # a ratio of two timings: each the fastest of three, as other work only adds time
            ref = ref or network_rate(*SPEED_REFERENCE, ctx.precision, steps=20, repeats=3)
            factor = network_rate(model_name, kwargs, batch, ctx.precision, steps=20, repeats=3) / ref
            _remember(ctx, {_key(ctx, what): round(factor, 3)})
        out[key] = factor
    return out


class Progress:
    """The '[k/N, about M min left]' prefix: FLOPs still to train over the rate the big networks reach, plus
    what each run costs beyond its FLOPs: a fixed part (building the model, tracing its step, storing) and a part per
    training step (the per-operation cost of tiny layers, of many networks in one graph, of each step's launch), which
    dominates the small runs of the sweeps and of the quick profile.

    A finished question teaches the rate or the per-step cost, whichever its time says it was bound by. Folding the
    sweeps' seconds into one rate made it say 150 minutes left where 45 were (2026-11-29)."""

    RUN_FIXED_S = 1.5        # building, tracing and storing a run: not learned (no question is bound by it alone)
    STEP_OVERHEAD_S = 1e-3   # until a question bound by it teaches it (Intel Xeon, 2026-12-03: 1.0 to 1.4 ms)

    def __init__(self, estimates: list[Estimate], rate_gflops: float, overhead_s: float | None = None,
                 evidence: dict[str, float] | None = None):
        """evidence: what earlier commands learned from (remembered_evidence), which this one goes on adding to."""
        self.estimates = {e.question: e for e in estimates}
        self.order = [e.question for e in estimates]
        self.rate = rate_gflops
        self.overhead = overhead_s or self.STEP_OVERHEAD_S   # seconds per training step beyond its FLOPs
        ev = evidence or {}
        self.done_gflop, self.done_s = ev.get("gflop", 0.0), ev.get("gflop_s", 0.0)
        self.overhead_steps, self.overhead_total = ev.get("steps", 0.0), ev.get("steps_s", 0.0)
        if self.done_s > 0 and self.done_gflop > 0:
            self.rate = self.done_gflop / self.done_s
        if self.overhead_steps > 0:
            self.overhead = max(self.overhead_total / self.overhead_steps, 1e-6)

    def evidence(self) -> dict[str, float]:
        return {"gflop": round(self.done_gflop, 3), "gflop_s": round(self.done_s, 3),
                "steps": self.overhead_steps, "steps_s": round(self.overhead_total, 3)}

    def measured(self, gflop: float, seconds: float, runs: int, steps: int) -> bool:
        """Learn the rate or the per-step cost from a question's seconds; True when one of them changed."""
        if gflop <= 0 or seconds <= 0:
            return False
        flop_s, fixed = gflop / self.rate, runs * self.RUN_FIXED_S
        if flop_s >= 0.5 * seconds:   # bound by arithmetic: its time says how fast this machine computes
            self.done_gflop += gflop
            self.done_s += max(seconds - fixed - steps * self.overhead, 0.2 * seconds)
            self.rate = self.done_gflop / self.done_s
        elif steps:                   # bound by what each step costs besides its FLOPs
            self.overhead_steps += steps
            self.overhead_total += max(seconds - flop_s - fixed, 0.0)
            self.overhead = max(self.overhead_total / self.overhead_steps, 1e-6)
        else:
            return False
        return True

    def finished(self, e: Estimate, record: dict) -> bool:
        """Learn from a question that just ran, if its seconds were spent on the runs its estimate priced.

        A question that reuses runs from the store, or from an earlier question of the same command, trains
        fewer than the estimate planned (the planner's placeholder results can pick other candidates): its
        seconds then price FLOPs it never computed, which once taught a rate of 1.2 million GFLOP/s. So does a
        question whose runs resumed from a killed command's checkpoints. True when it learned something."""
        trained = [r for r in record.get("runs", []) if not r.get("cache_hit", False)]
        whole = not any(r.get("resumed_from") for r in trained)   # a resumed run trained only its last steps
        if not record.get("cache_hit") and e.gflop and len(trained) == e.runs and whole:
            return self.measured(e.gflop, record["wall_seconds"], e.runs, e.steps)
        return False

    def seconds(self, e: Estimate) -> float:
        return e.gflop / self.rate + e.runs * self.RUN_FIXED_S + e.steps * self.overhead

    def remaining(self, qid: str) -> str:
        """'about 12 min left, done about 16:40' from qid on (qid included); '' when nothing is left to price."""
        k = self.order.index(qid)
        rest = [self.estimates[q] for q in self.order[k:]]
        left = sum(self.seconds(e) for e in rest)
        unknown = any(not e.known for e in rest)
        when = "" if left <= 0 and not unknown else f"about {_minutes(left)} left" + (
            " (and questions not estimated)" if unknown else "")
        if left >= 60:   # the clock time a user can plan by
            when += time.strftime(", done about %H:%M", time.localtime(time.time() + left))
        return when

    def prefix(self, qid: str) -> str:
        when = self.remaining(qid)
        return f"[{self.order.index(qid) + 1}/{len(self.order)}{', ' + when if when else ''}]"


def _minutes(seconds: float) -> str:
    m = seconds / 60
    return f"{m:.0f} min" if m >= 10 else f"{m:.1f} min" if m >= 0.1 else "<0.1 min"
