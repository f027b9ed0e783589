"""Step-based training: seeded data order, periodic evaluation into a DataFrame, resumable checkpoints."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .fsutil import NotRegular, open_regular, remove, write_atomically, write_error

# heldout_*: the images a run is scored on, its validation hold-out where it has one, else the test set.
HISTORY_COLUMNS = ["step", "epoch", "train_loss", "train_accuracy", "heldout_loss", "heldout_accuracy",
                   "wall_s", "train_s", "learning_rate"]
# Their names before 2026-12-03 (test_*, validation images included): stored runs and checkpoints keep them, and are
# read under today's names rather than retrained, since renaming changes no number.
LEGACY_HISTORY_NAMES = {"test_loss": "heldout_loss", "test_accuracy": "heldout_accuracy"}


def current_history(history: pd.DataFrame) -> pd.DataFrame:
    """A stored history under today's column names."""
    return history.rename(columns=LEGACY_HISTORY_NAMES)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 20000                  # mini-batch iterations, as the sheets count them
    batch_size: int = 50                # the TensorFlow tutorial's batch
    optimizer: str = "adam"             # "adam", "sgd" or "momentum"
    learning_rate: float = 1e-4         # the tutorial's Adam rate; constant unless boundaries are given
    lr_boundaries: tuple[int, ...] = ()  # steps after which the rate changes (piecewise constant)
    lr_values: tuple[float, ...] = ()   # len(lr_boundaries) + 1 rates
    momentum: float = 0.9               # only for "momentum"
    weight_decay: float = 0.0           # L2 coefficient added to the loss (sum of squared kernels)
    eval_every: int = 500               # steps between evaluations (the sheets' 500)
    train_eval_size: int | None = 10000  # fixed training sample measured at each evaluation (None: all)
    test_size: int | None = None        # None: the whole test set at every evaluation
    seed: int = 0                       # fixes initial weights, data order, dropout masks
    precision: str = "float32"          # a Keras dtype policy name: "float32" or "mixed_bfloat16"
    # Stop at the first evaluation whose last FLAT_WINDOW held-out accuracies at the final rate lie within
    # this much of each other (a fraction: 0.005 is half a point); steps is then a cap. None: exactly `steps`.
    stop_when_flat: float | None = None

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 1 or self.eval_every < 1:
            raise ValueError("steps, batch_size and eval_every must be positive")
        if self.optimizer not in ("adam", "sgd", "momentum"):
            raise ValueError(f"optimizer must be 'adam', 'sgd' or 'momentum', not {self.optimizer!r}")
        if self.lr_values and len(self.lr_values) != len(self.lr_boundaries) + 1:
            raise ValueError("lr_values needs exactly one more entry than lr_boundaries")
        if self.stop_when_flat is not None and not 0 < self.stop_when_flat < 1:
            raise ValueError(f"stop_when_flat is a fraction of accuracy in (0, 1), not {self.stop_when_flat!r}")
        if self.precision not in ("float32", "mixed_bfloat16", "mixed_float16"):
            raise ValueError(f"precision must be 'float32', 'mixed_bfloat16' or 'mixed_float16', not {self.precision!r}")

    def learning_rate_at(self, step: int) -> float:
        if not self.lr_values:
            return self.learning_rate
        # Keras's PiecewiseConstantDecay: values[i] while boundaries[i-1] < step <= boundaries[i].
        return self.lr_values[int(np.searchsorted(self.lr_boundaries, step, side="left"))]

    def eval_steps(self) -> list[int]:
        """Steps after which the model is evaluated: 0, every eval_every, and the last step."""
        points = list(range(0, self.steps, self.eval_every))
        return points + [self.steps]


@dataclass
class TrainResult:
    history: pd.DataFrame
    model: object
    config: TrainConfig
    train_seconds: float                # pure training time, evaluations excluded
    images_per_second: float            # training throughput
    resumed_from: int = 0               # step the run continued from (0: fresh)
    extra: dict = field(default_factory=dict)


def batch_order(n: int, batch_size: int, steps: int, seed: int, start: int = 0) -> np.ndarray:
    """Indices of the examples of every step in [start, steps), shape (steps - start, batch).

    Each epoch is a fresh permutation drawn from (seed, epoch), so the batches of a step
    depend on nothing but the step: a resumed run sees exactly the data of an uninterrupted one.
    """
    b = min(batch_size, n)
    per_epoch = n // b
    first, last = start // per_epoch, (steps - 1) // per_epoch
    epochs = [np.random.default_rng([seed, e]).permutation(n)[: per_epoch * b].reshape(per_epoch, b)
              for e in range(first, last + 1)]
    order = np.concatenate(epochs)
    offset = start - first * per_epoch
    return order[offset: offset + steps - start].astype(np.int32)


EVAL_BATCH = 2000  # images per inference call at an evaluation
FLAT_WINDOW = 3    # evaluations whose held-out accuracies must agree for TrainConfig.stop_when_flat


def is_flat(history: list[dict], cfg: TrainConfig) -> bool:
    """Whether the last FLAT_WINDOW evaluations at the final learning rate (after its last change, and
    after step 0) lie within cfg.stop_when_flat of each other: a plateau before a rate drop does not count."""
    settled = max(cfg.lr_boundaries, default=0)
    acc = [h["heldout_accuracy"] for h in history if h["step"] > settled][-FLAT_WINDOW:]
    return cfg.stop_when_flat is not None and len(acc) == FLAT_WINDOW and max(acc) - min(acc) <= cfg.stop_when_flat


def scores(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(summed cross-entropy, number correct) of one batch of logits.

    With several heads (logits (n, H, K), labels (n, H)) the loss is averaged over heads and an
    example counts as correct when every head is.
    """
    lg = logits - logits.max(axis=-1, keepdims=True)
    logp = lg - np.log(np.exp(lg).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(logp, y[..., None].astype(np.int64), axis=-1)[..., 0]
    hits = (lg.argmax(axis=-1) == y).reshape(len(y), -1)
    return np.array([-picked.reshape(len(y), -1).mean(axis=1).sum(), hits.all(axis=1).sum()])


def _one_kernel_adam(learning_rate):
    """Keras's Adam, each weight tensor updated by TensorFlow's one-kernel Adam (ResourceApplyAdam).

    Keras's own update is about ten elementwise ops per tensor, each a pass over memory: on a 2-core CPU
    they took a quarter of the HUJI network's step (1.1 million weights; 9.0-11.5 ms against 7.3-7.4 ms
    per step, `docs/README.md`). The formula is the same; the kernel forms 1 - beta in float32 where
    Keras forms it in double, which changes the second moment's update by about 1e-5 of itself.
    """
    import keras
    import tensorflow as tf

    class OneKernelAdam(keras.optimizers.Adam):
        def update_step(self, gradient, variable, learning_rate):
            i = self._get_variable_index(variable)
            step = tf.cast(self.iterations + 1, tf.float32)
            b1, b2 = tf.constant(self.beta_1, tf.float32), tf.constant(self.beta_2, tf.float32)
            tf.raw_ops.ResourceApplyAdam(
                var=variable.handle, m=self._momentums[i].handle, v=self._velocities[i].handle,
                beta1_power=tf.pow(b1, step), beta2_power=tf.pow(b2, step), lr=tf.cast(learning_rate, tf.float32),
                beta1=b1, beta2=b2, epsilon=tf.constant(self.epsilon, tf.float32),
                grad=tf.cast(gradient, tf.float32))

    return OneKernelAdam(learning_rate)


def _make_optimizer(cfg: TrainConfig):
    import keras

    if cfg.lr_values:
        lr = keras.optimizers.schedules.PiecewiseConstantDecay(list(cfg.lr_boundaries), list(cfg.lr_values))
    else:
        lr = cfg.learning_rate
    if cfg.optimizer == "adam":
        opt = _one_kernel_adam(lr)
    elif cfg.optimizer == "momentum":
        opt = keras.optimizers.SGD(lr, momentum=cfg.momentum)
    else:
        opt = keras.optimizers.SGD(lr)
    # float16's small range loses small gradients: scale the loss up, and the gradients back down.
    return keras.optimizers.LossScaleOptimizer(opt) if cfg.precision == "mixed_float16" else opt


class CheckpointDamaged(ValueError):
    """A checkpoint that cannot be read completely: it is reported, removed and never resumed from."""


class _Checkpoint:
    """Weights, optimizer state, dropout seed state and history at an evaluation point, in one .npz.

    Written to a temporary file of this process and renamed, so a kill leaves either the old or the
    new one; a failed write (disk full) removes its temporary and raises a one-line WriteError. The one
    before the newest is kept as checkpoint.prev.npz: a damaged newest checkpoint then costs one evaluation
    interval, not the whole run.
    """

    def __init__(self, directory: str | os.PathLike):
        self.path = Path(directory) / "checkpoint.npz"
        self.prev = Path(directory) / "checkpoint.prev.npz"

    def save(self, step: int, model, optimizer, history: list) -> None:
        arrays = {f"m{i}": np.asarray(v.numpy()) for i, v in enumerate(model.variables)}
        arrays.update({f"o{i}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)})
        arrays["meta"] = np.frombuffer(json.dumps({"step": step, "history": history}).encode(), dtype=np.uint8)
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.is_file():
                os.replace(self.path, self.prev)
        except OSError as e:
            raise write_error("a training checkpoint", self.path.parent, e) from e
        write_atomically(self.path, write, "a training checkpoint")

    def restore(self, model, optimizer, runs: int | None = None, log: Callable[[str], None] = print,
                label: str = "") -> tuple[int, list] | None:
        """Load the newest checkpoint that reads completely into model and optimizer: (step, history), or None
        to start from step 0. history is one run's list of evaluations, or a list of `runs` such lists.
        A damaged checkpoint is reported in one line and removed; the one before it is tried next."""
        for path in (self.path, self.prev):
            if not (path.exists() or path.is_symlink()):
                continue
            try:
                mv, ov, step, history = _read_checkpoint(path, model, optimizer, runs)
            except CheckpointDamaged as e:
                fallback = "the checkpoint before it" if path == self.path and self.prev.exists() else "step 0"
                log(f"{label}checkpoint {path} is damaged ({e}): removed; training resumes from {fallback}")
                remove(path)
                continue
            for v, a in zip(model.variables, mv):
                v.assign(a)
            for v, a in zip(optimizer.variables, ov):
                v.assign(a)
            return step, history
        return None

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
        self.prev.unlink(missing_ok=True)


def checkpoint_step(directory: str | os.PathLike) -> int:
    """The step a run's checkpoint in directory reached, read from its meta record alone; 0 when there is none or it
    is damaged (the loop reports that when it resumes)."""
    try:
        with np.load(_Checkpoint(directory).path, allow_pickle=False) as z:
            return _checkpoint_meta(z["meta"], None)[0]
    except Exception:
        return 0


def _read_checkpoint(path: Path, model, optimizer, runs: int | None):
    """(model arrays, optimizer arrays, step, history) of a checkpoint that matches model and optimizer in every
    array's name, shape and dtype and whose history ends at the step its weights were saved at; else
    CheckpointDamaged saying what is wrong."""
    try:
        f = open_regular(path)
    except NotRegular as e:
        raise CheckpointDamaged(f"{e.kind}, not a regular file") from e
    except OSError as e:
        raise CheckpointDamaged(f"cannot be read: {e.strerror or e}") from e
    with f:
        try:
            with np.load(f, allow_pickle=False) as z:
                if not hasattr(z, "files"):
                    raise CheckpointDamaged("not a .npz archive")
                names = set(z.files)
                want = {"meta"} | {f"m{i}" for i in range(len(model.variables))} \
                    | {f"o{i}" for i in range(len(optimizer.variables))}
                if names != want:
                    missing, extra = sorted(want - names), sorted(names - want)
                    raise CheckpointDamaged("; ".join(filter(None, [
                        missing and f"missing {', '.join(missing[:4])}", extra and f"unexpected {', '.join(extra[:4])}"])))
                arrays = {k: z[k] for k in names}
        except CheckpointDamaged:
            raise
        except Exception as e:  # truncated, not a zip, corrupt compressed data, a pickle: all the same to a resume
            raise CheckpointDamaged(f"not a readable .npz: {type(e).__name__}") from e
    for prefix, variables in (("m", model.variables), ("o", optimizer.variables)):
        for i, v in enumerate(variables):
            a = arrays[f"{prefix}{i}"]
            if tuple(v.shape) != a.shape or np.dtype(_dtype_name(v)) != a.dtype:
                raise CheckpointDamaged(f"{v.path} is {a.dtype}{list(a.shape)}, expected "
                                        f"{_dtype_name(v)}{list(v.shape)}")
    step, history = _checkpoint_meta(arrays["meta"], runs)
    # The optimizer counts the steps its weights took. A loss-scaling optimizer skips the count of the steps it
    # drops (non-finite gradients), so there the history's own step is all there is to check.
    if not hasattr(optimizer, "inner_optimizer"):
        i = next((i for i, v in enumerate(optimizer.variables) if v is optimizer.iterations), None)
        if i is not None and int(arrays[f"o{i}"]) != step:
            raise CheckpointDamaged(f"its weights are those of step {int(arrays[f'o{i}'])}, its history ends at {step}")
    return ([arrays[f"m{i}"] for i in range(len(model.variables))],
            [arrays[f"o{i}"] for i in range(len(optimizer.variables))], step, history)


def _dtype_name(variable) -> str:
    import keras

    return keras.backend.standardize_dtype(variable.dtype)


def _checkpoint_meta(meta: np.ndarray, runs: int | None) -> tuple[int, list]:
    """(step, history) from a checkpoint's meta array, each evaluation checked for every history column."""
    try:
        if meta.dtype != np.uint8 or meta.ndim != 1:
            raise ValueError("not bytes")
        doc = json.loads(meta.tobytes().decode("utf-8"))
        step, history = doc["step"], doc["history"]
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointDamaged(f"its meta record is unreadable or lacks {e}" if isinstance(e, KeyError)
                                else "its meta record is unreadable") from e
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise CheckpointDamaged("its step is not a count")
    per_run = [history] if runs is None else history
    if isinstance(per_run, list) and all(isinstance(h, list) for h in per_run):   # a checkpoint of older code
        per_run = [[{LEGACY_HISTORY_NAMES.get(k, k): v for k, v in e.items()} if isinstance(e, dict) else e for e in h]
                   for h in per_run]
        history = per_run[0] if runs is None else per_run
    if not isinstance(per_run, list) or (runs is not None and len(per_run) != runs):
        raise CheckpointDamaged(f"its history is not that of {runs or 1} run{'s' if (runs or 1) > 1 else ''}")
    for h in per_run:
        ok = isinstance(h, list) and h and all(
            isinstance(e, dict) and all(isinstance(e.get(c), (int, float)) and not isinstance(e.get(c), bool)
                                        for c in HISTORY_COLUMNS) for e in h)
        if not ok:
            raise CheckpointDamaged("its history lacks evaluations or columns")
        steps = [e["step"] for e in h]
        if steps != sorted(set(steps)) or steps[-1] != step:
            raise CheckpointDamaged(f"its history ends at step {steps[-1]}, its weights were saved at step {step}")
    return step, history


class _NotRetracing(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning. Every run compiles its own step
    function once (its own model and optimizer), which TensorFlow counts as retracing the same code."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def _quiet_retracing_warning() -> None:
    log = logging.getLogger("tensorflow")
    if not any(isinstance(f, _NotRetracing) for f in log.filters):
        log.addFilter(_NotRetracing())


def model_inputs(x: np.ndarray) -> tuple[Callable, tuple[int, ...]]:
    """How a batch of `x` becomes what the model reads, and the shape of one image as read.

    uint8 images are scaled inside the graph, one batch at a time, to exactly data.to_float's values (x / 255
    in float32, a channel axis added to greyscale): a run then holds its training images as uint8, a quarter of
    the memory of a float32 copy (CIFAR-10: 154 MB, not 614 MB, twice over with the graph's constant).
    Float arrays are read as they are.
    """
    import tensorflow as tf

    from .data import to_float  # local: keeps the import graph one-way and light

    if x.dtype != np.uint8:
        return (lambda b: b), tuple(x.shape[1:])
    # A table of to_float's own 256 values, not a division in the graph: TensorFlow divides by a constant as
    # a multiplication by its reciprocal, which rounds some values differently.
    table = tf.constant(to_float(np.arange(256, dtype=np.uint8)[None])[0].reshape(-1))

    def scale(b):
        b = tf.gather(table, tf.cast(b, tf.int32))
        return b[..., None] if x.ndim == 3 else b

    return scale, tuple(x.shape[1:]) + ((1,) if x.ndim == 3 else ())


def eval_batches(x: np.ndarray, batch: int):
    """x in float32 batches of at most `batch` images, scaled as data.to_float does when x is uint8."""
    from .data import to_float  # local: keeps the import graph one-way and light

    for s in range(0, len(x), batch):
        b = x[s: s + batch]
        yield s, (to_float(b) if b.dtype == np.uint8 else b)


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def train(
    build_model: Callable[[str], object],
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    cfg: TrainConfig,
    checkpoint_dir: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
    label: str = "",
    held_out: str = "test",
) -> TrainResult:
    """Train one model for cfg.steps mini-batches; evaluate (inference mode) every cfg.eval_every steps.

    x_* are uint8 images as stored (scaled in the graph: model_inputs) or float32 NHWC arrays, y_* integer
    class labels, shape (n,) or (n, heads) for a model whose logits have shape (n, heads, classes); held_out
    names x_test in the log ("test", "validation"). build_model(dtype_policy) returns an uncompiled Keras model
    with float32 logits. With checkpoint_dir, the state at every evaluation point is saved there and a later
    call with the same arguments resumes from it. The loop is ex1.loop's, shared with packed and fused runs.
    """
    import tensorflow as tf

    from . import loop  # local: the loop is built on this module's parts

    # Same seed, machine and software -> identical tables; costs nothing measurable on the CPU.
    tf.config.experimental.enable_op_determinism()
    layout = loop.Alone(build_model, cfg, x_train, y_train)
    return loop.run(layout, [cfg], x_train, y_train, x_test, y_test, checkpoint_dir, log, label, held_out)[0]

