"""A process hammering one store with random loads, saves, discards and cleanings (tests/test_concurrency.py).

Every entry it writes is internally consistent (its record, table and array carry one version number),
so a reader that ever sees two versions mixed, a half entry or a damaged one reports it.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ex1.store import Store  # noqa: E402

KEYS = [f"k{i}" for i in range(6)]


def check(entry, key: str) -> str | None:
    v = entry.record.get("v")
    if entry.record.get("key") != key:
        return f"{key}: record of {entry.record.get('key')}"
    if entry.tables["t"]["v"].tolist() != [v] * 50 or not np.array_equal(entry.arrays["w"], np.full(20000, v)):
        return f"{key}: versions mixed"
    return None


def main(root: str, seconds: float, seed: int) -> int:
    store, rng = Store(root), np.random.default_rng(seed)
    counts, bad = {"load": 0, "hit": 0, "save": 0, "discard": 0, "clean": 0}, []
    # At least `seconds`, and on until this worker has raced enough (30 saves and 30 hits): on a loaded machine 4 s
    # once gave 92 hits in all, and the test's "it really raced" failed for the load, not for the store.
    start = time.monotonic()
    end, cap = start + seconds, start + 60 * seconds
    while time.monotonic() < end or (min(counts["save"], counts["hit"]) < 30 and time.monotonic() < cap):
        key, op = KEYS[rng.integers(len(KEYS))], rng.random()
        try:
            if op < 0.5:
                counts["load"] += 1
                e = store.load("runs", key)
                if e is not None:
                    counts["hit"] += 1
                    bad += [m for m in [check(e, key)] if m]
            elif op < 0.85:
                counts["save"] += 1
                v = int(rng.integers(1_000_000))
                store.save("runs", key, {"t": pd.DataFrame({"v": [v] * 50})}, {"key": key, "v": v},
                           {"w": np.full(20000, v)})
            elif op < 0.95:
                counts["discard"] += 1
                store.discard("runs", key)
            else:
                counts["clean"] += 1
                store.clean_temporaries()
        except Exception as e:  # any exception is a failure of the store under concurrency
            bad.append(f"{type(e).__name__}: {e}")
    print(json.dumps({"counts": counts, "bad": bad, "damaged": store.damaged}))
    return 1 if bad or store.damaged else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3])))
