"""A run killed with SIGKILL or interrupted with SIGINT (Ctrl-C) mid-training resumes from its last
evaluation point and ends the same as an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(out: Path, data_dir: Path) -> list[str]:
    return [sys.executable, str(ROOT / "Ex1_main.py"), "--only", "huji.1.2", "--profile", "quick",
            "--data-dir", str(data_dir), "--out", str(out), "--no-pdf", "--html"]   # the history is what is compared


def checkpoint_step(out: Path) -> int | None:
    for p in (out / "store" / "checkpoints").glob("*/checkpoint.npz"):
        try:
            with np.load(p, allow_pickle=False) as f:
                return json.loads(bytes(f["meta"]).decode())["step"]
        except (OSError, ValueError, KeyError):
            return None
    return None


def history(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "tables" / "quick" / "huji.1.2" / "history.csv")


ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_dir) -> pd.DataFrame:
    """The history of the same run never interrupted: computed once for both signals."""
    whole = tmp_path_factory.mktemp("whole")
    plain = subprocess.run(cli(whole, data_dir), capture_output=True, text=True, env=ENV)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    return history(whole)


def interrupt_at(step: int, out: Path, data_dir: Path, sig) -> tuple[subprocess.Popen, str]:
    """Start the run, wait for its checkpoint at `step`, send sig; (process, everything it printed)."""
    # Ctrl-C reaches a foreground program. A shell starts background jobs with SIGINT ignored, and a
    # child inherits that, so under `pytest &` the run would rightly never see the signal.
    proc = subprocess.Popen(cli(out, data_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=ENV, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if f"step {step:>6}/" in line:   # the evaluation at `step` is printed, its checkpoint follows
            break
    # Wait for the checkpoint (written right after that line), then signal without warning.
    deadline = time.monotonic() + 60
    while checkpoint_step(out) != step and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before its step-{step} checkpoint was seen:\n" + "".join(seen)
    assert checkpoint_step(out) == step, f"no step-{step} checkpoint was seen:\n" + "".join(seen)
    proc.send_signal(sig)
    return proc, "".join(seen) + proc.communicate()[0]


@pytest.mark.parametrize("sig, step", [(signal.SIGKILL, 50), (signal.SIGINT, 50), (signal.SIGKILL, 0)],
                         ids=["SIGKILL", "SIGINT", "SIGKILL-at-step-0"])
def test_killed_then_rerun_resumes_and_matches_an_uninterrupted_run(tmp_path, data_dir, sig, step, uninterrupted):
    """Step 0 included: a run killed before its first evaluation checkpoint records step 0 once."""
    env = ENV
    killed = tmp_path / "killed"
    proc, text = interrupt_at(step, killed, data_dir, sig)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL, text
    else:   # Ctrl-C: a one-line message and the conventional exit status 128 + SIGINT
        assert proc.returncode == 130, text
        assert "interrupted: finished results and the last evaluation checkpoint are kept" in text
        assert "Traceback" not in text
    assert not (killed / "tables").exists()          # nothing half-written where results go

    resumed = subprocess.run(cli(killed, data_dir), capture_output=True, text=True, env=env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming at step {step} " in resumed.stdout

    a, b = history(killed), uninterrupted
    cols = ["step", "train_loss", "train_accuracy", "heldout_loss", "heldout_accuracy"]
    assert a["step"].is_unique
    pd.testing.assert_frame_equal(a[cols], b[cols], rtol=1e-5, atol=1e-6)
