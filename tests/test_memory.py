"""Nothing of a finished run outlives it: resident memory stays flat over a sequence of training runs."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import synthetic_images

ROOT = Path(__file__).resolve().parents[1]

WORKER = """
import sys
from ex1.runner import Context, RunSpec, get_profile
from ex1.store import Store
from ex1.train import TrainConfig

def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024

ctx = Context(get_profile("quick"), Store(sys.argv[1]), data_dir=sys.argv[2], log=lambda s: None)
for seed in range(6):
    ctx.train(RunSpec("shallow_cnn", TrainConfig(steps=20, eval_every=10, train_eval_size=200, test_size=200,
                                                 seed=seed)))
    print(round(rss_mb()), flush=True)
"""


def test_resident_memory_stays_flat_over_training_runs(tmp_path):
    # 40,000 training images are 125 MB as float32: a run that left its tensors behind would add that much.
    data = tmp_path / "data"
    data.mkdir()
    (xtr, ytr), (xte, yte) = synthetic_images(40000, (28, 28), 1), synthetic_images(200, (28, 28), 2)
    np.savez(data / "mnist.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)  # uncompressed: quick to write
    out = subprocess.run([sys.executable, "-c", WORKER, str(tmp_path / "store"), str(data)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    rss = [int(line) for line in out.stdout.split()]
    assert len(rss) == 6
    # After the first two runs (imports, kernels and allocator pools warmed up) four more may not add a run's data.
    assert rss[-1] - rss[1] < 60, rss


QUESTIONS_WORKER = """
import sys
from experiments import QUESTIONS, execute
from ex1.runner import Context, get_profile
from ex1.store import Store

def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024

for store in sys.argv[1:3]:   # the same questions twice, the second time into an empty store: all trained again
    ctx = Context(get_profile("quick"), Store(store), data_dir=sys.argv[3], log=lambda s: None)
    for qid in ("huji.1.2", "huji.2", "huji.3.1"):
        execute(QUESTIONS[qid], ctx)
    print(round(rss_mb()), flush=True)
"""


def test_resident_memory_stays_flat_over_a_sequence_of_quick_profile_questions(tmp_path):
    # Three quick-profile questions (runs alone, and a fused sweep of 3 networks x 2 seeds) trained, evaluated and
    # stored, then all of it again from an empty store in the same process: the second pass may not keep what the
    # first one built. (HUJI 4's packed runs, here until 2026-12-02, took 100 s of CI for no other layout's check.)
    data = tmp_path / "data"
    data.mkdir()
    (xtr, ytr), (xte, yte) = synthetic_images(40000, (28, 28), 1), synthetic_images(2000, (28, 28), 2)
    np.savez(data / "mnist.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    out = subprocess.run([sys.executable, "-c", QUESTIONS_WORKER, str(tmp_path / "a"), str(tmp_path / "b"), str(data)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    first, second = [int(line) for line in out.stdout.split()]
    # 40,000 images as float32 are 125 MB: a question that kept its runs' data would add at least that much.
    assert second - first < 60, (first, second)
