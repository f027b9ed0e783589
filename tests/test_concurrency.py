"""Several processes on one --out: no crash, no lost or mixed entry, no run trained twice at once."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from ex1.store import Store
from tests.store_worker import KEYS, check

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def test_store_api_driven_by_four_processes_keeps_every_entry_whole(tmp_path):
    procs = [subprocess.Popen([sys.executable, str(ROOT / "tests" / "store_worker.py"), str(tmp_path), "4", str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out + err
        reports.append(json.loads(out))
    counts = pd.DataFrame([r["counts"] for r in reports]).sum()
    assert counts["save"] > 100 and counts["hit"] > 100 and counts["discard"] > 10   # it really raced
    store = Store(tmp_path)
    for key in KEYS:
        e = store.load("runs", key)
        assert e is None or check(e, key) is None
    assert store.damaged == []
    assert not [p for p in tmp_path.rglob(".*.tmp*")]        # every writer removed its temporaries


def test_the_same_question_in_two_processes_trains_its_run_once(tmp_path, data_dir):
    cmd = [sys.executable, str(ROOT / "Ex1_main.py"), "--only", "huji.1.2", "--profile", "quick",
           "--data-dir", str(data_dir), "--out", str(tmp_path)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
             for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(outs)
    text = "\n".join(outs)
    assert text.count("training huji_cnn for") == 1, text
    # The second process waited for the first (or, had it started late, found the answer stored).
    assert "waiting for its" in text or "huji.1.2: from the store" in text, text
    h = pd.read_csv(tmp_path / "tables" / "quick" / "huji.1.2" / "history.csv")
    assert h["step"].is_unique and h["step"].is_monotonic_increasing
    assert (tmp_path / "Ex1_report_quick_partial.pdf").stat().st_size > 10_000
    assert not [p for p in tmp_path.rglob(".*.tmp*")]
