"""Question 3: the smallest network is chosen on validation images over seeds, with a bracketed boundary, and
the convergence comparison says only what its seeds support."""

import pandas as pd
import pytest

from experiments import huji_depth
from experiments.registry import QUESTIONS, Answer
from ex1.result import Result
from report import sections


LEVEL = huji_depth.SweepConfig("shallow", (), None, seeds=(0, 1, 2), validation=5000).level


def sweep_table(rows, level=LEVEL):
    """rows: (label, params, per-seed validation accuracies)."""
    per_seed = pd.DataFrame([{"label": label, "seed": s, "params": p, "validation_accuracy": a, "train_accuracy": a,
                              "train_seconds": 1.0} for label, p, accs in rows for s, a in enumerate(accs)])
    return huji_depth.summary(per_seed, level), per_seed


def test_a_seed_counts_only_with_a_margin_that_shrinks_as_the_validation_set_grows():
    levels = [huji_depth.SweepConfig("deep", (), None, seeds=(0,), validation=n).level for n in (1000, 5000, 50000)]
    assert 0.95 < levels[2] < levels[1] < levels[0] < 0.97
    # 5,000 images: the standard error of an accuracy of 95% is 0.31 points, so the margin is about half a point
    assert 0.004 < LEVEL - 0.95 < 0.006


def test_the_smallest_network_is_the_one_whose_every_seed_reaches_and_the_boundary_is_the_largest_miss_below():
    t, _ = sweep_table([("a", 400, [0.96, 0.96, 0.94]), ("b", 500, [0.952, 0.96, 0.97]),
                        ("c", 600, [0.957, 0.96, 0.958]), ("d", 700, [0.97, 0.97, 0.97])])
    chosen = huji_depth.smallest_reaching(t)
    assert chosen["label"] == "c"        # a has the higher mean, but one seed misses; b clears 95% but not the margin
    assert huji_depth.bracket(t, chosen)["label"] == "b"
    t2, _ = sweep_table([("a", 400, [0.96, 0.97, 0.96])])
    assert huji_depth.bracket(t2, huji_depth.smallest_reaching(t2)) is None
    t3, _ = sweep_table([("a", 400, [0.90, 0.97, 0.96])])
    assert huji_depth.smallest_reaching(t3) is None


def test_consecutive_candidates_differ_by_at_most_thirty_percent_in_parameters():
    from ex1 import models

    for family, candidates in (("shallow", huji_depth.SHALLOW), ("deep", huji_depth.DEEP)):
        sizes = []
        for c in candidates:
            spec = huji_depth.candidate_run(family, c, huji_depth.TrainConfig(steps=1), None)
            sizes.append(models.create_model(spec.model, **spec.model_kwargs).count_params())
        sizes = sorted(sizes)
        assert all(small >= 0.7 * big for small, big in zip(sizes[:-1], sizes[1:])), (family, sizes)


def speed_history(rise_at: int, final: float, steps=range(0, 2001, 100)) -> pd.DataFrame:
    acc = [0.1 if s < rise_at else final for s in steps]
    return pd.DataFrame({"step": list(steps), "heldout_accuracy": acc, "train_s": [s / 100 for s in steps]})


def test_convergence_finds_the_own_and_the_common_level():
    c = huji_depth.convergence(speed_history(700, 0.96), 5, {"own": 0.99, "common": 0.5})
    # the three-evaluation average first clears 0.99 * 0.96 one evaluation after the jump
    assert c["own_step"] == 800 and c["common_step"] == 700 and abs(c["final_accuracy"] - 0.96) < 1e-12
    never = huji_depth.convergence(speed_history(700, 0.96), 5, {"common": 0.99})
    assert never["common_step"] is None and never["common_seconds"] is None


def answer_3_3(shallow_steps, deep_steps) -> Answer:
    rows = []
    for fam, steps in (("shallow", shallow_steps), ("deep", deep_steps)):
        for seed, s in enumerate(steps):
            rows.append({"family": fam, "label": f"{fam} net", "seed": seed, "params": 600,
                         "images_per_second": 20000.0, "final_accuracy": 0.96, "own_step": s,
                         "own_seconds": s / 1000, "common_step": s, "common_seconds": s / 1000})
    curves = pd.concat([speed_history(700, 0.96).assign(family=f, label=f"{f} net", seed=0, train_accuracy=0.96)
                        for f in ("shallow", "deep")])
    facts = {"relative": 0.99, "common": 0.95, "final_evaluations": 5, "eval_every": 100, "seeds": 3, "missing": []}
    run = {"config": {"lr_boundaries": [7500], "eval_every": 100}}
    return Answer(QUESTIONS["huji.3.3"], Result({"speed": pd.DataFrame(rows), "curves": curves}, facts),
                  {"runs": [run]})


def test_which_network_converges_first_is_said_only_when_the_seeds_support_it():
    deep_first = sections.build(answer_3_3([6000, 6100, 5900], [4000, 4100, 3900]))
    assert deep_first["sentences"][0].startswith("In steps the deep network reaches")
    assert "reason the deep network needs fewer steps" in deep_first["why"]
    alike = sections.build(answer_3_3([6000, 4000, 5000], [5500, 4500, 5100]))
    assert "cannot be told apart in steps to 99% of their final accuracies" in " ".join(alike["sentences"])
    assert "cost of a step" in alike["why"] and "needs fewer steps" not in alike["why"]
    shallow_first = sections.build(answer_3_3([3000, 3100, 2900], [4000, 4100, 3900]))
    assert "in steps the shallow network reaches" in shallow_first["sentences"][0]
    assert "reason the shallow network needs fewer steps" in shallow_first["why"]


def test_the_gap_between_validation_and_test_is_weighed_against_the_margin():
    from report.sections.huji_depth import _validation_gap_sentence

    wide = pd.DataFrame({"validation_accuracy": [0.962, 0.960, 0.958], "test_accuracy": [0.948, 0.950, 0.949]})
    narrow = pd.DataFrame({"validation_accuracy": [0.962, 0.960, 0.958], "test_accuracy": [0.958, 0.957, 0.959]})
    assert "does not carry over" in _validation_gap_sentence(wide, 0.95)
    assert "higher for 3 of 3 seeds" in _validation_gap_sentence(wide, 0.95)
    assert "does not carry over" not in _validation_gap_sentence(narrow, 0.95)
    assert "higher for 2 of 3 seeds" in _validation_gap_sentence(narrow, 0.95)


def test_the_step_cost_is_set_against_the_arithmetic_not_explained_by_it():
    from report.sections.huji_depth import _step_cost_sentence

    slower = _step_cost_sentence({"shallow": 58240, "deep": 62992}, 1.875)   # a deep step takes 1.875 shallow ones
    assert "1.08 times as many" in slower and "1.88 times as long" in slower and "not from arithmetic" in slower
    assert "times as long" not in _step_cost_sentence({"shallow": 58240, "deep": 62992}, 0.9)


def _profile(deep_conv2_ms: float) -> pd.DataFrame:
    rows = [("shallow", "conv1", "Conv2D", 57600, 0.90), ("shallow", "pool1", "MaxPooling2D", 0, 0.21),
            ("shallow", "logits", "Dense", 640, 0.02), ("shallow", "Adam update (4 weight tensors)", "optimizer", 0, 0.05),
            ("shallow", "whole step", "step", 58240, 1.70),
            ("deep", "conv1", "Conv2D", 43200, 0.86), ("deep", "pool1", "MaxPooling2D", 0, 0.38),
            ("deep", "conv2", "Conv2D", 19200, deep_conv2_ms), ("deep", "pool2", "MaxPooling2D", 0, 0.14),
            ("deep", "fc1", "Dense", 512, 0.05), ("deep", "logits", "Dense", 80, 0.01),
            ("deep", "Adam update (8 weight tensors)", "optimizer", 0, 0.09), ("deep", "whole step", "step", 62992, 3.07)]
    return pd.DataFrame(rows, columns=["family", "part", "kind", "forward_macs", "step_time_ms"])


def test_the_profile_sentence_says_what_the_layer_timings_show_and_no_more():
    from report.sections.huji_depth import _profile_sentence, _with_rest

    p = _profile(0.59)
    rest = _with_rest(p).set_index(["family", "part"])["step_time_ms"]
    assert rest[("deep", "rest of the step")] == pytest.approx(3.07 - 2.12)        # whole minus its timed parts
    assert rest[("shallow", "rest of the step")] == pytest.approx(1.70 - 1.18)
    s = _profile_sentence(p, 2.12)
    assert "a deep step takes 1.81 times a shallow one (3.07 against 1.70 ms; 2.12 in the runs themselves) for 1.08 " \
        "times the multiply-adds (62,992 against 58,240 per image)" in s
    # 1.37 ms apart: conv2 + pool2 + fc1 = 0.78; conv1, pool1, logits 1.25 - 1.13 = +0.12; Adam +0.04; rest +0.43
    assert "Of the profile's 1.37 ms difference, the layers only the deep network has (conv2, pool2, fc1) take 0.78 ms, the " \
        "layers both have +0.12, the Adam update +0.04 and the rest of the step +0.43: most of it is in layers that " \
        "do 31% of the deep network's multiply-adds." in s   # 19,792 of 62,992
    # why: a layer's time follows its arithmetic only loosely, shown by the costliest extra layer against the first
    assert "Layer conv2 alone takes 0.59 ms for 19,200 multiply-adds per image, 69% of conv1's time for 44% of its " \
        "multiply-adds. At these sizes a layer's time follows its arithmetic only loosely" in s
    no_claim = _profile_sentence(_profile(0.55), 2.12)   # 64% of the time for 44% of the arithmetic: not loose enough
    assert "most of it is in layers" in no_claim and "Layer conv2" not in no_claim
    assert "The layers both have" not in s          # +0.12 of 1.37 ms: too little to need a word
    slow = p.copy()
    slow.loc[(slow["family"] == "deep") & (slow["part"] == "conv1"), "step_time_ms"] = 1.40   # +0.66 of 1.91 ms
    slow.loc[(slow["family"] == "deep") & (slow["part"] == "whole step"), "step_time_ms"] = 3.61
    assert "The layers both have take 0.66 ms more in the deep network although they do fewer multiply-adds " \
        "(43,280 against 58,240 per image): arithmetic does not explain that part either." in _profile_sentence(slow)
    # the runs' own steps, longer than the profile's, are stated as such beside the same ratio
    assert "(3.07 against 1.70 ms; in the runs themselves 10.4 against 4.9 ms, which include loading the batches, " \
        "2.12 times)" in _profile_sentence(p, 2.12, {"deep": 10.4, "shallow": 4.9})
    # steps as far apart as their arithmetic: no claim about layers
    even = p.copy()
    even.loc[(even["family"] == "deep") & (even["part"] == "whole step"), "step_time_ms"] = 1.85
    assert "most of it" not in _profile_sentence(even)


def test_the_step_profile_times_every_layer_the_update_and_the_whole_step():
    from ex1 import models
    from ex1.flops import forward_flops

    model = models.create_model("huji_cnn", filters=(3, 4), dense_units=8)
    p = huji_depth.step_profile(model, batch=8, steps=3, repeats=1)
    layers = [layer.name for layer in model.layers[1:]]
    assert p["part"].tolist() == layers + ["Adam update (8 weight tensors)", "whole step"]
    assert (p["step_time_ms"] > 0).all()
    assert p.loc[p["kind"] != "step", "forward_macs"].sum() == p.loc[p["kind"] == "step", "forward_macs"].item() \
        == forward_flops(model) // 2


def test_the_sheets_literal_answer_is_scored_on_test_beside_the_rules():
    from types import SimpleNamespace

    from report.sections.huji_depth import _literal_sentence

    t, _ = sweep_table([("conv 2-4-8", 866, [0.9536, 0.96, 0.955]), ("conv 2-4-9", 992, [0.96, 0.961, 0.962])])
    test = pd.DataFrame({"seed": [0, 1, 2], "test_accuracy": [0.951, 0.949, 0.953], "validation_accuracy": [0.95] * 3,
                         "test_images": [10000] * 3})
    result = SimpleNamespace(facts={"literal": "conv 2-4-8"}, tables={"literal_test": test})
    chosen = t[t["label"] == "conv 2-4-9"].iloc[0]
    text = _literal_sentence(result, t, 0.95, chosen, 0)
    assert "<b>866</b> parameters" in text and "lowest seed 95.36%" in text
    assert "95.10%, 94.90%, 95.30% by seed" in text and "1 of 3 seeds below 95%: the margin guards" in text
    assert "the margin guards" not in _literal_sentence(result, t, 0.95, chosen, 1)   # the rule's choice fails too
    # every literal seed above 95% on test: one answer, and what the margin cost
    test["test_accuracy"] = [0.9602, 0.9581, 0.9637]
    assert "so on these 3 seeds the margin cost 126 parameters it did not need" in _literal_sentence(
        result, t, 0.95, chosen, 0)
    # no literal answer apart from the rule's: nothing to add
    assert _literal_sentence(SimpleNamespace(facts={"literal": "conv 2-4-9"}, tables={}), t, 0.95, chosen, 0) == ""


def test_the_loss_sentence_reads_the_curve_it_describes():
    from report.sections.huji_depth import _loss_sentence

    h = pd.DataFrame({"step": [0, 500, 1000, 5000, 10000], "train_loss": [2.3, 1.0, 0.25, 0.15, 0.12],
                      "heldout_loss": [2.3, 1.0, 0.26, 0.16, 0.124]})
    s = _loss_sentence(h)
    # 90% of the fall (2.3 -> 0.12) is reached at 0.338: first at step 1,000
    assert "falls from 2.30 to 0.120, nine tenths of the fall in the first 1,000 of 10,000 steps" in s
    assert "ends at 0.124, 3.3% above it (the two curves overlap): no sign of overfitting." in s
    apart = h.assign(heldout_loss=[2.3, 1.0, 0.3, 0.2, 0.18])
    assert _loss_sentence(apart).endswith("ends at 0.180, 50.0% above it.") and "overfitting" not in _loss_sentence(apart)
