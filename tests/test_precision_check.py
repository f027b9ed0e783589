"""The float32 versus mixed-bfloat16 check: both precisions really trained, statistics from the runs."""

import math

import pandas as pd
import pytest

from ex1 import precision_check


def test_summary_gives_means_difference_and_paired_seeds():
    runs = pd.DataFrame({"precision": ["float32"] * 3 + ["mixed_bfloat16"] * 3, "seed": [0, 1, 2] * 2,
                         "test_accuracy": [0.990, 0.992, 0.994, 0.991, 0.992, 0.990],
                         "images_per_s": [100.0] * 6})
    s = precision_check.summarise(runs)
    assert list(s["precision"]) == ["float32", "mixed_bfloat16"]
    assert s["mean_test_accuracy"].tolist() == pytest.approx([0.992, 0.991])
    assert s.attrs["difference"] == pytest.approx(-0.001)
    assert s.attrs["standard_error"] == pytest.approx(math.sqrt(0.002 ** 2 / 3 + 0.001 ** 2 / 3))
    assert s.attrs["within_seed_noise"] is True
    assert s.attrs["paired_max_abs"] == pytest.approx(0.004)


def test_quick_check_trains_both_precisions_with_the_same_seeds(tmp_path, data_dir):
    table, summary = precision_check.run("gap", 1, str(tmp_path), str(data_dir), "quick")
    assert sorted(table["precision"]) == ["float32", "mixed_bfloat16"]
    assert (table["seed"] == 0).all() and (table["steps"] == 100).all()
    records = list((tmp_path / "store" / "runs").glob("*/record.json"))
    assert len(records) == 2                          # two distinct runs, not one cached twice
    # Same seed, same batches: only the precision differs, so identical losses would mean it was ignored.
    assert table["test_loss"].iloc[0] != table["test_loss"].iloc[1]
    assert "difference" in summary.attrs


def test_unknown_recipe_is_refused_with_the_choices(tmp_path):
    with pytest.raises(ValueError, match="huji_same"):
        precision_check.run("resnet", 1, str(tmp_path), None)
