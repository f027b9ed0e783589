"""Shared fixtures: a data directory (the real one from EX1_DATA_DIR when set, else synthetic files)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# The longest files first: pytest-xdist (-n 2 --dist loadfile, pyproject.toml) hands whole files to its workers in
# collection order, and the quick end-to-end run, a third of the suite's time, would otherwise start last.
SLOWEST_FIRST = ("test_end_to_end.py", "test_portability.py", "test_cli.py", "test_interrupt.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: the rest keep their order


# The columns of a training history that a rerun must reproduce (wall and training seconds are not among them).
MEASURED = ["step", "epoch", "train_loss", "train_accuracy", "heldout_loss", "heldout_accuracy", "learning_rate"]


def builder(name, **kw):
    """A registered model as the engines take it: a function of the dtype policy (None: float32)."""
    from ex1 import models

    return lambda dtype: models.create_model(name, **kw, **({"dtype": dtype} if dtype else {}))


def synthetic_images(n: int, shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable uint8 images: class c lights up a class-specific block, plus noise."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 10).astype(np.uint8)
    rng.shuffle(y)
    x = rng.integers(0, 60, size=(n, *shape), dtype=np.uint8)
    h, w = shape[0], shape[1]
    for c in range(10):
        r, col = divmod(c, 5)  # two rows of five blocks
        top, left = 2 + r * (h // 2), col * (w // 5)
        x[y == c, top: top + h // 2 - 4, left + 1: left + w // 5 - 1] = 230
    return x, y


class Interrupt(Exception):
    """Stands in for a kill: raised from a training log line."""


def kill_at(step: int):
    """A training log callback that interrupts the run when it logs the evaluation at `step`."""
    def log(line: str) -> None:
        if f"step {step:>6}/" in line:
            raise Interrupt
    return log


def write_npz(directory: Path, name: str, n_train: int, n_test: int, shape=(28, 28)) -> Path:
    xtr, ytr = synthetic_images(n_train, shape, 1)
    xte, yte = synthetic_images(n_test, shape, 2)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.npz"
    np.savez_compressed(path, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    return path


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("synthetic-data")
    write_npz(d, "mnist", 3000, 600)
    write_npz(d, "cifar10", 1000, 200, shape=(32, 32, 3))
    return d


@pytest.fixture(scope="session")
def data_dir(synthetic_dir) -> Path:
    """The real datasets when EX1_DATA_DIR points at them (CI does), else the synthetic ones."""
    real = os.environ.get("EX1_DATA_DIR")
    # Absolute: some tests run the CLI from a copy of the project, where a relative path (the README's) breaks.
    return Path(real).resolve() if real and (Path(real) / "mnist.npz").is_file() else synthetic_dir
