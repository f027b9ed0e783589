"""The run context: profile sizes, data access, and training runs cached in the results store."""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import codehash, fused, golden, loop, machine, models, packed, tfmemory, train
from . import data as data_mod
from .store import Store, config_hash


@dataclass(frozen=True)
class Profile:
    """Sizes and counts only: every profile runs the same code."""

    name: str
    max_steps: int | None        # cap on every training run; None keeps the sheet's own count
    eval_every: int              # steps between evaluations (the sheets say 500)
    train_eval_size: int | None  # training examples measured at each evaluation
    test_size: int | None        # test examples measured at each evaluation; None = all 10,000
    seeds: int                   # repeats where a question reports mean +- std
    sweep_points: int | None = None  # settings kept from each sweep (evenly spread); None keeps all

    def sweep(self, settings: tuple) -> tuple:
        """The settings of a sweep this profile trains: all, or an even spread including both ends."""
        if self.sweep_points is None or len(settings) <= self.sweep_points:
            return tuple(settings)
        idx = np.unique(np.linspace(0, len(settings) - 1, self.sweep_points).round().astype(int))
        return tuple(settings[i] for i in idx)

    def steps(self, sheet_steps: int) -> int:
        return sheet_steps if self.max_steps is None else min(sheet_steps, self.max_steps)

    def train_config(self, sheet_steps: int, **kwargs) -> train.TrainConfig:
        """A TrainConfig with this profile's sizes; kwargs carry the question's own hyperparameters."""
        steps = self.steps(sheet_steps)
        return train.TrainConfig(steps=steps, eval_every=min(self.eval_every, steps),
                                 train_eval_size=self.train_eval_size, test_size=self.test_size, **kwargs)


PROFILES = {
    "full": Profile("full", max_steps=None, eval_every=500, train_eval_size=10000, test_size=None, seeds=3),
    # About two minutes end to end on 2 cores: every path exercised, nothing answered.
    "quick": Profile("quick", max_steps=100, eval_every=50, train_eval_size=1000, test_size=2000, seeds=2,
                     sweep_points=3),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}")
    return PROFILES[name]


def hold_out(x: np.ndarray, y: np.ndarray, n: int, seed: int = 20261129):
    """(x_train, y_train, x_val, y_val): n training images drawn at random with `seed` (one fixed draw for every
    run) become the validation set.

    Drawn, not the last n: MNIST's last 5,000 training images are easier than the test set (the shallow sweep's
    chosen network scored 1.1 points higher on them than on the test images, and higher even than on the training
    images it was fitted to), so a threshold met on them was missed on the test set.
    """
    if not 0 < n < len(x):
        raise ValueError(f"a validation hold-out must be between 1 and {len(x) - 1} images, not {n}")
    val = data_mod.sample_indices(len(x), n, seed)
    keep = np.setdiff1d(np.arange(len(x)), val)
    return x[keep], y[keep], x[val], y[val]


def training_data(spec: "RunSpec", ds) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_held_out, y_held_out) of a run: the dataset or its pairs, a stratified subset, and the
    test set or a validation hold-out."""
    x_train, y_train, x_test, y_test = ds.x_train, ds.y_train, ds.x_test, ds.y_test
    if spec.pairs is not None:
        x_train, y_train, x_test, y_test = spec.pairs.build(ds)
    if spec.per_class is not None:
        idx = data_mod.stratified_subset(y_train, spec.per_class, spec.subset_seed)
        x_train, y_train = x_train[idx], y_train[idx]
    if spec.validation is not None:
        x_train, y_train, x_test, y_test = hold_out(x_train, y_train, spec.validation)
    return x_train, y_train, x_test, y_test


# The engine, which trains runs: ex1.train, ex1.packed, ex1.fused and ex1.layers. Run keys name its version
# (ex1.golden.ENGINE_VERSION), not its source: a refactor that moves no number, which the golden runs check,
# retrains nothing.
ENGINE = {"the training engine's version": str(golden.ENGINE_VERSION)}


def run_code_deps(model: str, pairs: bool = False, validation: bool = False, fused: bool = False,
                  legacy: bool = False) -> dict[str, str]:
    """The code a training run depends on: the engine's version, the model's builder(s), the data preparation,
    each builder and function with the hash of its normalised source.

    Only the builders a model goes through count, so adding a model to the zoo keeps other runs cached. With
    legacy, the engine is named as run keys named it before they named its version (its modules' source hashes,
    golden.LEGACY_ENGINE_SOURCE); {} when this engine version has no such keys.
    """
    builders = [models._REGISTRY[model]]
    if model != "huji_cnn" and model.startswith("huji_cnn"):
        builders.append(models.huji_cnn)  # the thin variants delegate to it
    extra = [data_mod.make_pairs, PairSpec] if pairs else []
    extra += [hold_out] if validation else []
    engine = dict(ENGINE)
    if legacy:
        source = golden.LEGACY_ENGINE_SOURCE.get(golden.ENGINE_VERSION)
        if source is None:
            return {}
        engine = {k: v for k, v in source.items() if k != "ex1/fused.py" or fused}
    return {**engine, **codehash.code_versions(models._pool, *builders, data_mod.to_float,
                                               data_mod.stratified_subset, data_mod.sample_indices, *extra)}


def code_inputs(record: dict) -> dict:
    """A run record's arguments of run_code_deps, also as records before 2026-12-02 wrote them ('fused_')."""
    inputs = dict(record.get("code_inputs") or {})
    if "fused_" in inputs:
        inputs["fused"] = inputs.pop("fused_")
    return inputs


@dataclass(frozen=True)
class PairSpec:
    """Two-digit images (HUJI question 5) built from the training and test images separately."""

    train_pairs: int = 60000
    test_pairs: int = 10000
    seed: int = 0
    exclude: tuple[tuple[int, int], ...] = ()   # (left, right) digit pairs never shown in training
    target: str = "sum"                          # "sum": 19 classes; "digits": the (left, right) pair

    def build(self, ds: data_mod.Dataset):
        xtr, dtr = data_mod.make_pairs(ds.x_train, ds.y_train, self.train_pairs, self.seed, exclude=self.exclude)
        # Test pairs of the combinations seen in training, like the training pairs: the held-out combinations
        # are measured apart, so that a model that cannot handle them is not compared on them unawares.
        xte, dte = data_mod.make_pairs(ds.x_test, ds.y_test, self.test_pairs, self.seed + 1, exclude=self.exclude)
        return xtr, self.labels(dtr), xte, self.labels(dte)

    def labels(self, digits: np.ndarray) -> np.ndarray:
        return digits.sum(axis=1).astype(np.uint8) if self.target == "sum" else digits


@dataclass(frozen=True)
class RunSpec:
    """One training run: a registered model with its hyperparameters, data, and a TrainConfig."""

    model: str
    config: train.TrainConfig
    model_kwargs: dict = field(default_factory=dict)
    dataset: str = "mnist"
    per_class: int | None = None      # a stratified training subset of this many per class
    subset_seed: int = 0
    label: str = ""                   # how logs and tables name the run
    pairs: PairSpec | None = None     # train on two-digit images instead of the dataset itself
    # Hold out `validation` training images, drawn at random once for every run (hold_out), and evaluate on them
    # instead of the test set: for choosing hyperparameters and when to stop without looking at the test set.
    validation: int | None = None
    # Train with every other run of its group in one network (ex1.fused): sweep candidates of any seed. Set
    # only where the runs are many and small; a fused run trained alone still goes through ex1.fused.
    fused: bool = False

    def build_kwargs(self) -> dict:
        """The builder's arguments: the spec's own, plus the input shape of a dataset other than MNIST."""
        kw = dict(self.model_kwargs)
        if self.dataset != "mnist":
            kw.setdefault("input_shape", data_mod.SPECS[self.dataset].image_shape)
        return kw

    def full_model_kwargs(self) -> dict:
        return {**models.model_defaults(self.model), **self.build_kwargs()}


@dataclass
class Run:
    """A finished (possibly cached) training run."""

    spec: RunSpec
    history: pd.DataFrame
    params: pd.DataFrame
    record: dict
    weights: list[np.ndarray]
    cache_hit: bool

    @property
    def final(self) -> pd.Series:
        return self.history.iloc[-1]

    def model(self, precision: str | None = None):
        """The trained Keras model, rebuilt from the stored weights, computing in the precision it trained in or in
        `precision` (float32 checks the function the weights define, free of bfloat16 rounding)."""
        kw = self.spec.build_kwargs()
        if (precision or self.spec.config.precision) != "float32":
            kw["dtype"] = precision or self.spec.config.precision
        m = models.create_model(self.spec.model, **kw)
        for v, w in zip(m.variables, self.weights):
            v.assign(w)
        return m

    def predict(self, x: np.ndarray, batch: int = train.EVAL_BATCH) -> np.ndarray:
        """Logits of the trained model on x (float32 images), in inference mode, batch by batch.

        Computed as the training log's evaluations are (one compiled function, batches of EVAL_BATCH): eager
        calls skip the graph's fused kernels, and in bfloat16 that flipped a few test images, so a recount
        disagreed with the log's last evaluation."""
        import tensorflow as tf

        model = self.model()
        train._quiet_retracing_warning()   # one compiled function per model, by design
        logits_of = tf.function(lambda xb: tf.cast(model(xb, training=False), tf.float32),
                                input_signature=[tf.TensorSpec([None, *x.shape[1:]], tf.float32)])
        return np.concatenate([logits_of(x[s: s + batch]).numpy() for s in range(0, len(x), batch)])


@dataclass
class Context:
    """What a question function may use: the profile, data, and cached training."""

    profile: Profile
    store: Store
    data_dir: str | None = None
    precision: str = "float32"
    rerun: bool = False
    log: Callable[[str], None] = print
    runs: list[Run] = field(default_factory=list)   # the runs of the question being computed
    trained_keys: set[str] = field(default_factory=set)  # runs trained by this invocation: --rerun trains each once
    tensorboard: str | None = None   # a folder for every run's history as TensorBoard logs (ex1.tensorboard)
    question: str = ""               # the question being computed (names its runs' TensorBoard folders)
    started_at: float = field(default_factory=time.time)

    def dataset(self, name: str = "mnist") -> data_mod.Dataset:
        return data_mod.load(name, self.data_dir)

    def local_fingerprint(self, name: str) -> str | None:
        """The dataset's fingerprint when it loads from this machine (the data directory or Keras's cache), else
        None: reading stored answers never downloads a dataset, and works without one (a TA holding a
        student's results folder)."""
        try:
            return data_mod.load(name, self.data_dir, use_tfds=False).fingerprint
        except data_mod.DataError:
            return None

    def local_data_problem(self, name: str) -> str | None:
        """Why the dataset does not load from this machine (None when it does), without downloading it."""
        try:
            data_mod.load(name, self.data_dir, use_tfds=False)
            return None
        except data_mod.DataError as e:
            return str(e).replace("TensorFlow Datasets: disabled", "TensorFlow Datasets: not tried (no download here)")

    def train_config(self, sheet_steps: int, **kwargs) -> train.TrainConfig:
        return self.profile.train_config(sheet_steps, precision=self.precision, **kwargs)

    def run_key(self, spec: RunSpec) -> str:
        return config_hash(self.run_payload(spec))

    def legacy_run_key(self, spec: RunSpec) -> str | None:
        """The key this run had when run keys hashed the engine's source (None: this engine version had none)."""
        deps = run_code_deps(spec.model, pairs=spec.pairs is not None, validation=spec.validation is not None,
                             fused=spec.fused, legacy=True)
        return config_hash(self.run_payload(spec, legacy=deps)) if deps else None

    def run_payload(self, spec: RunSpec, legacy: dict[str, str] | None = None) -> dict:
        ds = self.dataset(spec.dataset)
        deps = legacy or run_code_deps(spec.model, pairs=spec.pairs is not None,
                                       validation=spec.validation is not None, fused=spec.fused)
        payload = {
            "model": spec.model, "model_kwargs": spec.full_model_kwargs(), "config": asdict(spec.config),
            "dataset": ds.fingerprint, "per_class": spec.per_class, "subset_seed": spec.subset_seed,
            "code": codehash.combined(deps), "tf": _tf_version(), "onednn": machine.onednn_enabled(),
        }
        if not legacy:   # a Keras release may change initialisers or kernels' use
            payload["keras"] = _keras_version()
        if spec.pairs is not None:  # only when set, so the keys of plain runs stay as they were
            payload["pairs"] = asdict(spec.pairs)
        if spec.validation is not None:
            payload["validation"] = spec.validation
        if spec.fused:
            payload["engine"] = "fused"
        return payload

    def train(self, spec: RunSpec) -> Run:
        """Train spec (or reuse the stored run with the same key) and remember it for the report.

        The run's lock is held while it trains: a second process asking for the same run waits
        for it and then reuses its result instead of training it again at the same time."""
        key = self.run_key(spec)
        entry = self._reusable(key, spec)
        if entry is None:
            label = f"[{spec.label or spec.model}] "
            with self.store.lock("runs", key, on_wait=lambda: self.log(
                    f"{label}another process is training this run; waiting for its result")):
                entry = self._reusable(key, spec)
                if entry is None:
                    run = self._train_now(spec, key)
        if entry is not None:
            run = Run(spec, entry.tables["history"], entry.tables["params"], entry.record,
                      [entry.arrays[f"w{i}"] for i in range(len(entry.arrays))], cache_hit=True)
        self._keep(run)
        return run

    def _keep(self, run: Run) -> None:
        """Remember a run for the answer being computed (and log it for TensorBoard when asked)."""
        self.runs.append(run)
        if self.tensorboard:
            from . import tensorboard

            tensorboard.write_run(self.tensorboard, self.question, run)

    def train_all(self, specs: list[RunSpec]) -> list[Run]:
        """Train several runs (or reuse the stored ones), in order; those that can, train packed or fused.

        Runs with one training configuration (seed included, so one data order), one data set and
        first convolutions of one shape train together (ex1.packed); runs marked fused with one data set
        and configuration but the seed train as one network (ex1.fused). Either way each is still stored,
        keyed and locked as its own run, and gives the numbers it would give alone."""
        keys = [self.run_key(s) for s in specs]
        groups: dict[tuple, list[int]] = {}
        for i, (spec, key) in enumerate(zip(specs, keys)):
            pack = fuse_key(spec) if spec.fused else pack_key(spec)
            if pack is not None and self._reusable(key, spec) is None:
                groups.setdefault(pack, []).append(i)
        trained: dict[int, Run] = {}
        for members in groups.values():
            if len(members) > 1:
                trained.update(self._train_pack([specs[i] for i in members], [keys[i] for i in members], members))
        runs = []
        for i, spec in enumerate(specs):
            if i in trained:
                self._keep(trained[i])
                runs.append(trained[i])
            else:
                runs.append(self.train(spec))
        return runs

    def _train_pack(self, specs: list[RunSpec], keys: list[str], ids: list[int]) -> dict[int, Run]:
        """Train the runs of one pack that no other process has stored meanwhile, under all their locks."""
        from contextlib import ExitStack

        with ExitStack() as locks:
            for key in sorted(keys):   # one order for every process: two packs never wait on each other
                locks.enter_context(self.store.lock("runs", key, on_wait=lambda: self.log(
                    "another process is training runs of this pack; waiting for them")))
            todo = [(i, s, k) for i, s, k in zip(ids, specs, keys) if self._reusable(k, s) is None]
            if len(todo) < 2:
                return {}   # the rest train alone, or are reused, through Context.train
            runs = self._train_now([s for _, s, _ in todo], [k for _, _, k in todo])
            return {i: run for (i, _, _), run in zip(todo, runs)}

    def stored_run_path(self, spec: RunSpec):
        """The folder of spec's stored run, under its key or under the key it had before run keys named the
        engine's version; None when neither is stored."""
        for key in (self.run_key(spec), self.legacy_run_key(spec)):
            if key is not None and self.store.path("runs", key).is_dir():
                return self.store.path("runs", key)
        return None

    def _reusable(self, key: str, spec: RunSpec | None = None):
        """The stored entry of a run, unless --rerun asks to train it again in this invocation
        (a run that another process finished after this one started counts as retrained). With spec, a run
        stored under the key it had before run keys named the engine's version is found too."""
        entry = self.store.load("runs", key)
        if entry is None and spec is not None:
            legacy = self.legacy_run_key(spec)
            if legacy is not None:
                entry = self.store.load("runs", legacy)
                key = legacy
        if entry is not None and entry.tables.get("history") is not None:
            entry.tables["history"] = train.current_history(entry.tables["history"])
        if entry is not None and (problem := _run_entry_problem(entry)):
            self.log(f"stored run {key[:12]} is not a whole run ({problem}): it trains again")
            self.store.discard("runs", key, problem)
            return None
        if entry is not None and self.rerun and key not in self.trained_keys \
                and entry.record.get("finished", 0.0) < self.started_at:
            return None
        return entry

    def code_facts(self, spec: RunSpec) -> dict:
        """What a later version needs to tell whether this run is stale, and why: the run's identity
        (its key without the code) and the hash of each code dependency."""
        payload = self.run_payload(spec)
        payload.pop("code")
        return {"identity": config_hash(payload), "code_deps": run_code_deps(
            spec.model, pairs=spec.pairs is not None, validation=spec.validation is not None, fused=spec.fused),
            "code_inputs": {"model": spec.model, "pairs": spec.pairs is not None,
                            "validation": spec.validation is not None,
                            **({"fused": True} if spec.fused else {})}}

    def _train_now(self, specs: RunSpec | list[RunSpec], keys: str | list[str]) -> Run | list[Run]:
        """Train one run, or the runs of one pack (same data and configuration), and store each."""
        single = isinstance(specs, RunSpec)
        specs, keys = ([specs], [keys]) if single else (specs, keys)
        spec = specs[0]
        ds = self.dataset(spec.dataset)
        x_train, y_train, x_test, y_test = training_data(spec, ds)
        names = [s.label or s.model for s in specs]
        if single:
            label = f"[{names[0]}] "
        elif spec.fused:
            label = f"[{len(specs)} fused: {len(set(names))} networks x {len({s.config.seed for s in specs})} seeds] "
        else:
            label = f"[{len(specs)} packed: {', '.join(names)}] "
        self.log(f"{label}training {'/'.join(sorted({s.model for s in specs}))} for {spec.config.steps} steps "
                 f"on {len(x_train)} {spec.dataset} images ({spec.config.precision})")
        builders = [self._builder(s) for s in specs]
        args = (x_train, y_train, x_test, y_test, spec.config)   # uint8: scaled batch by batch (train.model_inputs)
        held_out = "test" if spec.validation is None else "validation"
        ckpt_dir = self.store.root / "checkpoints" / (keys[0] if single else ("fuse-" if spec.fused else "pack-") + config_hash(sorted(keys)))
        started = time.time()
        with tfmemory.released_after_run():
            if spec.fused:
                seeds = sorted({s.config.seed for s in specs})   # one lane per seed: its own data order
                lanes = [[i for i, s in enumerate(specs) if s.config.seed == seed] for seed in seeds]
                trained = fused.train_fused([[builders[i] for i in lane] for lane in lanes],
                                            [specs[lane[0]].config for lane in lanes], *args[:4],
                                            checkpoint_dir=ckpt_dir, log=self.log, label=label, held_out=held_out)
                by_spec = {i: r for lane, rs in zip(lanes, trained) for i, r in zip(lane, rs)}
                results = [by_spec[i] for i in range(len(specs))]
            elif single:
                results = [train.train(builders[0], *args, checkpoint_dir=ckpt_dir, log=self.log, label=label,
                                       held_out=held_out)]
            else:
                results = packed.train_packed(builders, *args, checkpoint_dir=ckpt_dir, log=self.log, label=label,
                                              held_out=held_out)
            outputs = []
            for res in results:
                outputs.append(([np.asarray(v.numpy()) for v in res.model.variables], models.param_table(res.model)))
                res.model = None  # dies with the run, before the collection on leaving the block
        runs = []
        for s, key, res, (weights, params) in zip(specs, keys, results, outputs):
            record = {
                "model": s.model, "model_kwargs": s.full_model_kwargs(), "config": asdict(s.config),
                "dataset": s.dataset, "data_source": ds.source, "data_fingerprint": ds.fingerprint,
                "train_examples": len(x_train), "per_class": s.per_class, "subset_seed": s.subset_seed,
                "label": s.label, "train_seconds": res.train_seconds, "validation": s.validation,
                "images_per_second": res.images_per_second, "resumed_from": res.resumed_from,
                "wall_seconds": float(res.history["wall_s"].iloc[-1]), "started": started, "finished": time.time(),
                "trained_with": res.extra.get("trained_with", 1), **self.code_facts(s),
                # What a rerun elsewhere must match to reproduce it exactly (ex1 verify, ex1 diff).
                "kernels": golden.kernel_kind(),
            }
            entry = self.store.save("runs", key, {"history": res.history, "params": params}, record,
                                    {f"w{i}": w for i, w in enumerate(weights)})
            self.trained_keys.add(key)
            runs.append(Run(s, entry.tables["history"], entry.tables["params"], entry.record, weights, cache_hit=False))
        shutil.rmtree(ckpt_dir, ignore_errors=True)
        return runs[0] if single else runs

    @staticmethod
    def _builder(spec: RunSpec) -> Callable[[str | None], object]:
        kw = spec.build_kwargs()
        return lambda dtype: models.create_model(spec.model, **kw, **({"dtype": dtype} if dtype else {}))


def _run_entry_problem(entry) -> str:
    """What makes a stored entry unusable as a run ('' when nothing does). The store vouches for an entry being
    whole (checksums); this checks it holds what a run is read as, so a hand-edited one trains again."""
    history, params = entry.tables.get("history"), entry.tables.get("params")
    if history is None or not set(train.HISTORY_COLUMNS) <= set(history.columns) or history.empty:
        return "its history lacks columns or rows"
    steps = pd.to_numeric(history["step"], errors="coerce")
    if steps.isna().any() or not steps.is_monotonic_increasing:
        return "its history's steps are not increasing counts"
    if params is None or "params" not in params.columns:
        return "its parameter table lacks the counts"
    if set(entry.arrays) != {f"w{i}" for i in range(len(entry.arrays))}:
        return "its weights are not numbered w0, w1, ..."
    missing = [k for k in ("config", "model_kwargs", "train_seconds", "wall_seconds", "images_per_second",
                           "dataset", "train_examples") if k not in entry.record]
    return f"its record lacks {', '.join(missing)}" if missing else ""


PACKABLE = ("shallow_cnn", "huji_cnn")  # chains that start with a convolution: ex1.packed.first_conv_signature


def _data_key(spec: RunSpec) -> tuple:
    """The training data a run reads: runs trained together must read the same."""
    pairs = None if spec.pairs is None else tuple(sorted(asdict(spec.pairs).items()))
    return (spec.dataset, spec.per_class, spec.subset_seed, pairs, spec.validation)


def pack_key(spec: RunSpec) -> tuple | None:
    """What runs trained together must share (None: this run trains alone): the data, the whole training
    configuration, and the shape and activation of the first convolution."""
    if spec.model not in PACKABLE or loop.refusal("packed", spec.config):
        return None
    kw = spec.full_model_kwargs()
    conv = (kw.get("kernel_size"), kw.get("strides", 1), kw.get("padding"), kw.get("activation", "relu"),
            tuple(kw.get("input_shape")))
    return (*_data_key(spec), spec.config, conv)


def fuse_key(spec: RunSpec) -> tuple | None:
    """What runs trained fused must share (None: this run trains alone, through ex1.fused): the data and the
    training configuration but its seed (each seed is a lane of ex1.fused, with its own data order)."""
    if loop.refusal("fused", spec.config, models=2):
        return None
    return ("fused", *_data_key(spec), replace(spec.config, seed=0))


def _tf_version() -> str:
    import tensorflow as tf

    return tf.__version__


def _keras_version() -> str:
    import keras

    return keras.__version__


def with_seed(cfg: train.TrainConfig, seed: int) -> train.TrainConfig:
    return replace(cfg, seed=seed)


def trained_with(record: dict) -> int:
    """How many runs trained together with this one in one compiled step (packed or fused), itself included. Records
    before 2026-12-03 call it packed_with, fused runs too."""
    return int(record.get("trained_with") or record.get("packed_with") or 1)


def wall_share(summary: dict) -> float:
    """A run's part of the wall clock: runs trained together share one clock, each counting 1/n of it."""
    return summary["wall_seconds"] / trained_with(summary)


def run_summary(run: Run) -> dict[str, Any]:
    """The facts of a run the report states: what ran, how long, how fast, how well."""
    r, f = run.record, run.final
    return {
        "label": run.spec.label or run.spec.model, "model": run.spec.model, "model_kwargs": r["model_kwargs"],
        "config": r["config"], "dataset": r["dataset"], "train_examples": r["train_examples"],
        "validation": r.get("validation"),
        "params": int(run.params["params"].sum()), "train_seconds": r["train_seconds"],
        "wall_seconds": r["wall_seconds"],
        "images_per_second": r["images_per_second"], "cache_hit": run.cache_hit,
        "trained_with": trained_with(r), "resumed_from": r.get("resumed_from", 0),
        "final_step": int(f["step"]), "final_train_accuracy": float(f["train_accuracy"]),
        "final_test_accuracy": float(f["heldout_accuracy"]),
        **{k: r[k] for k in ("identity", "code_deps", "code_inputs") if k in r},
    }
