"""Report sections: Bonn, the programming exercises P1-P4 (experiments.bonn_practical)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ex1.stats import p_value, paired, signed, variance_ratio, welch

from experiments.bonn_practical import LAST, cifar_label, mnist_label, sweep_label

from .. import figures
from ..figures import to_svg
from .common import (Figure, Table, binomial_se, num, one_line, param_table, pct, pm, run_of,
                     secs, section, slug, still_improving)


# ----------------------------------------------------------------------------- Bonn programming

def rate_verdict(vs, chosen: str) -> str:
    """What the paired comparison of the runner-up against the chosen rate (vs: stats.Paired, b the runner-up)
    says about the choice."""
    if not vs.significant:
        return f"the average picks {chosen}, but the final weights do not tell the two rates apart"
    if vs.diff < 0:
        return "the chosen rate is the better one there too"
    return ("on the final weights the runner-up is the better one, so the average and the last evaluation "
            "disagree; the average, chosen in advance, decides")


def tutorial_sentence(accuracy: float, tutorial: float, n_test: int) -> str:
    """The answer's test accuracy against the tutorial's, weighed against the sampling error of a test accuracy."""
    half = 1.96 * binomial_se(accuracy, n_test)
    diff = accuracy - tutorial
    name = f"the \u201cover {pct(tutorial, 0)}\u201d of the TensorFlow CNN tutorial"
    if abs(diff) <= half:
        return (f"about the same as {name} ({signed(100 * diff)} points from {pct(tutorial, 0)}, inside the "
                f"±{100 * half:.2f}-point 95% interval of one seed's {num(n_test)}-image accuracy)")
    return (f"{'above' if diff > 0 else 'below'} {name}: {100 * abs(diff):.2f} points from {pct(tutorial, 0)}, "
            f"beyond the ±{100 * half:.2f}-point 95% interval of one seed's {num(n_test)}-image accuracy")


@section("bonn.p1")
def bonn_p1(result, record) -> dict:
    t, curves, facts = result.tables["selection"], result.tables["curves"], result.facts
    chosen = f"{facts['chosen']:g}"
    rows = [[f"{r.learning_rate:g}", pct(r.final_val_error) if r.finite else "diverged",
             pct(r.mean_val_error_last) if r.finite else "—",
             f"{r.final_train_loss:.4f}" if r.finite else "NaN", secs(r.train_seconds), "✓" if r.chosen else ""]
            for r in t.itertuples()]
    table = Table(slug("bonn.p1", "selection"), f"The sweep: validation error on {num(facts['validation'])} held-out "
                  f"training images after the last step, its mean over the last {facts['select_last']} evaluations "
                  "(which chooses the rate), and the training-sample loss.",
                  ["learning rate", "final validation error", f"mean of last {facts['select_last']}",
                   "training loss", "training time", "chosen"], rows, ["r", "r", "r", "r", "r", "l"], kind="more")
    fig = Figure(slug("bonn.p1", "sweep"), to_svg(figures.learning_rate_sweep(curves, chosen)),
                 f"MNIST, one curve per learning rate (chosen: thick): validation error (left) and training-sample "
                 f"loss (right) every {facts['eval_every']} steps, log scales.")
    finite = t[t["finite"]].sort_values("mean_val_error_last")
    diverged = [f"{v:g}" for v in t.loc[~t["finite"], "learning_rate"]]
    runner_up = finite.iloc[1] if len(finite) > 1 else None
    best = finite.iloc[0]
    # the runner-up against the chosen rate, pair by pair on the same validation images (McNemar)
    vs = (paired(result.tables["patterns"], f"{best.learning_rate:g}", f"{runner_up.learning_rate:g}", "images")
          if runner_up is not None and "patterns" in result.tables else None)
    lrs = sorted(t["learning_rate"])
    at_edge = best.learning_rate in (lrs[0], lrs[-1])
    params = param_table("bonn.p1", "params", result.tables["params"], "The Bonn CNN on MNIST, layer by layer.")

    def listed(rows):
        return [f"{r.learning_rate:g}: {pct(r.mean_val_error_last)}" for r in rows.sort_values("learning_rate").itertuples()]

    # Chance on ten balanced classes is 90% error: a run ending above 50% has failed, either from the start
    # or after learning for a while (a collapse).
    failed = finite[finite["final_val_error"] > 0.5].sort_values("learning_rate")
    learned = finite[finite["final_val_error"] <= 0.5]
    stuck = [f"{r.learning_rate:g} (lowest validation error during the run {pct(r.best_val_error, 1)}, final training loss "
             f"{r.final_train_loss:.3f})"
             for r in failed.itertuples() if r.best_val_error > 0.5]
    collapsed = [f"{r.learning_rate:g} (down to {pct(r.best_val_error, 1)}, then back to {pct(r.final_val_error, 1)})"
                 for r in failed.itertuples() if r.best_val_error <= 0.5]
    below = listed(learned[learned["learning_rate"] < best.learning_rate])
    above = listed(learned[learned["learning_rate"] > best.learning_rate])
    chosen_run = run_of(record, sweep_label(float(chosen)))
    return {"vs": vs, "vs_verdict": None if vs is None else rate_verdict(vs, chosen), "below": below, "above": above, "stuck": stuck, "collapsed": collapsed, "chosen_run": chosen_run, "table": table, "fig": fig, "facts": facts, "chosen": chosen, "best": best, "runner_up": runner_up,
            "diverged": diverged, "at_edge": at_edge, "span": lrs[-1] / lrs[0], "n": len(lrs),
            "run": chosen_run, "params": params}


def evaluation_noise(p: float, n: int) -> float:
    """How far two accuracies near p on independent sets of n images differ from sampling alone (95%): the bound P2
    and P3 hold a run's last evaluations to."""
    return 1.96 * np.sqrt(2) * binomial_se(p, n)


def last_evaluations(h: pd.DataFrame, n: int, k: int = 3) -> dict:
    """The last k test accuracies of one run: their mean, their range, and whether that range is beyond what two
    measurements on the same test images differ by from sampling alone (1.96 x sqrt 2 binomial standard errors)."""
    tail = h[h["step"] > 0].tail(k)
    acc = tail["heldout_accuracy"].astype(float)
    noise = evaluation_noise(float(acc.mean()), n)
    loss = tail["train_loss"].astype(float) if "train_loss" in tail else pd.Series(dtype=float)
    return {"k": len(acc), "mean": float(acc.mean()), "low": float(acc.min()), "high": float(acc.max()),
            "first_step": int(tail["step"].iloc[0]), "moves": bool(acc.max() - acc.min() > noise), "noise": noise,
            # the training loss at the last two evaluations where it rises: the network itself changed
            "loss_rise": (float(loss.iloc[-2]), float(loss.iloc[-1]))
            if len(loss) >= 2 and loss.iloc[-1] > loss.iloc[-2] else None}


@section("bonn.p2")
def bonn_p2(result, record) -> dict:
    h = result.tables["history"]
    run = run_of(record, mnist_label(False, result.facts["seed"]))
    final = h.iloc[-1]
    label = "Bonn CNN"
    loss = Figure(slug("bonn.p2", "loss"), to_svg(figures.loss_curves({label: h})),
                  f"MNIST: training loss (dashed; on the same {num(run['config']['train_eval_size'])} training images "
                  f"each time, not each step's batch) and test loss (solid) every {run['config']['eval_every']} steps, "
                  "log scale.")
    acc = Figure(slug("bonn.p2", "acc"), to_svg(figures.accuracy_curves({label: h})),
                 "The Bonn CNN on MNIST, the same run: training-sample (dashed) and test (solid) accuracy"
                 + figures.panels_note({label: h}), kind="more")
    more = len(result.facts.get("seeds", [])) - 1
    more_seeds = (f"; Programming 3 adds {more} more seed{'s' if more > 1 else ''}" if more > 0 else "")
    return {"run": run, "final": final, "test_acc": float(final["heldout_accuracy"]), "last": last_evaluations(h, run["config"]["test_size"] or 10000, LAST),
            "train_acc": float(final["train_accuracy"]), "loss": loss, "acc": acc, "facts": result.facts,
            "more_seeds": more_seeds,
            "gain": still_improving(h), "still_rising": still_improving(h) > 0.1,   # points over the last evaluations
            "last_steps": [int(v) for v in h["step"].iloc[-3:]], "before_steps": [int(v) for v in h["step"].iloc[-6:-3]],
            "run_first_loss": float(h["train_loss"].iloc[0])}


@section("bonn.p3")
def bonn_p3(result, record) -> dict:
    summary, per_seed, facts = result.tables["summary"], result.tables["per_seed"], result.facts
    s = summary.set_index("regularisation")
    base, reg = s.loc["none"], s.loc["dropout + weight decay"]
    test = welch(base.test_mean, base.test_std, base.n, reg.test_mean, reg.test_std, reg.n)
    test_last = welch(base.last_mean, base.last_std, base.n, reg.last_mean, reg.last_std, reg.n)
    last = facts["last"]
    rows = [[r.regularisation, pm(r.test_mean, r.test_std), pm(r.last_mean, r.last_std),
             pm(r.train_mean, r.train_std)] for r in summary.itertuples()]
    table = Table(slug("bonn.p3", "summary"), "Accuracy in %, mean ± standard deviation over seeds "
                  f"{', '.join(map(str, facts['seeds']))}.",
                  ["regularisation", "final test", f"test, mean of last {last}", "final training sample"],
                  rows, ["l", "r", "r", "r"])
    seed_rows = [[one_line(r.regularisation), str(r.seed), pct(r.test_accuracy), pct(r.test_last_mean),
                  pct(r.train_accuracy), f"{float(r.train_seconds):.1f}"] for r in per_seed.itertuples()]
    seeds = Table(slug("bonn.p3", "seeds"), "Every run of the comparison (time: wall-clock seconds of training, which vary "
                  "with the machine's other load and are not compared between runs).",
                  ["regularisation", "seed", "final test accuracy", f"mean of last {last}", "training-sample accuracy",
                   "training time (s)"], seed_rows, ["l", "r", "r", "r", "r", "r"], kind="more")
    # the seed whose final evaluation sits furthest below its own last-k mean: a dip, not a level
    dips = per_seed.assign(dip=per_seed["test_last_mean"] - per_seed["test_accuracy"])
    dip = dips.loc[dips["dip"].idxmax()]
    run = run_of(record, mnist_label(False, facts["seeds"][0]))
    n_test = (run or {}).get("config", {}).get("test_size") or 10000
    # a dip: the final evaluation further below its run's last-k mean than sampling noise on the test images allows
    dip_noise = evaluation_noise(float(dip["test_last_mean"]), n_test)
    curves = result.tables["curves"]
    names = {"none": "Bonn CNN", "dropout + weight decay": "Bonn CNN, dropout + weight decay"}
    hist = {names[k]: g for k, g in curves.groupby("run", sort=False)}
    fig = Figure(slug("bonn.p3", "curves"), to_svg(figures.accuracy_curves(hist)),
                 f"The Bonn CNN on MNIST without and with dropout and weight decay, seed {facts['seeds'][0]} of each: "
                 "training-sample (dashed) and test (solid) accuracy" + figures.panels_note(hist), kind="more")
    gap_base, gap_reg = base.train_mean - base.test_mean, reg.train_mean - reg.test_mean
    def pm_pct(r):
        std = 0.0 if r.test_std != r.test_std else r.test_std
        return f"{100 * r.test_mean:.2f} ± {100 * std:.2f}% (n={int(r.n)})"

    return {"test_last": test_last, "last": last, "dip": dip.to_dict(), "is_dip": bool(dip["dip"] > dip_noise),
            "spread_sentence": spread_sentence(base, reg, last, int(dip["seed"]) if dip["dip"] > dip_noise else None),
            "reg_pm": pm_pct(reg), "base_pm": pm_pct(base),
            "table": table, "seeds": seeds, "fig": fig, "base": base, "reg": reg, "diff": test.diff,
            "test": test, "significant": test.significant, "facts": facts, "gap_base": gap_base, "gap_reg": gap_reg,
            "base_hardly_overfits": gap_base < 0.005, "regularised_lower": test_last.significant and test_last.diff < 0,   # half a point between training and test accuracy
            "run": run}


def spread_sentence(base, reg, last: int, dip_seed: int | None, alpha: float = 0.05) -> str:
    """Whether the seeds spread more without regularisation than with it, for the final accuracy and for the
    last-`last` means, each with the variance-ratio test's p-value (3 seeds a side say little: p, not a verdict)."""
    p_final = variance_ratio(base.test_std, int(base.n), reg.test_std, int(reg.n))
    p_last = variance_ratio(base.last_std, int(base.n), reg.last_std, int(reg.n))

    def pair(a, b, p):   # the p-value with what it says, in words (the test is named in the appendix)
        said = "unlikely to be chance" if p < alpha else "could be chance"
        return (f"{100 * a:.2f} and {100 * b:.2f} points ({p_value(p)}: {said})" if p == p
                else f"{100 * a:.2f} and {100 * b:.2f} points")

    s = (f"Seed spread (standard deviation) without and with regularisation: "
         f"{pair(base.test_std, reg.test_std, p_final)} for the final accuracy, "
         f"{pair(base.last_std, reg.last_std, p_last)} for the last-{last} means")
    final_apart, last_apart = p_final < alpha, p_last < alpha
    if final_apart and not last_apart:
        cause = f", from seed {dip_seed}'s dip" if dip_seed is not None else ""
        return s + f": only the final evaluations differ{cause}."
    if final_apart or last_apart:
        who = "regularised" if reg.last_std < base.last_std else "unregularised"
        return s + f": the {who} runs are steadier."
    return s + ": neither recipe is shown to be steadier."


def trend_sentence(last, best: float, best_epoch: float) -> str:
    """Which way the last evaluations of a run that is not flat move, and how far below its best they end."""
    steps = [b - a for a, b in zip(last, last[1:])]
    if all(d > 0 for d in steps):
        return "They still rise: more epochs could raise it."
    way = "fall" if all(d < 0 for d in steps) else "move up and down"
    return (f"They {way}, the last {100 * (best - last[-1]):.2f} points below the best ({pct(best)} at epoch "
            f"{best_epoch:.3g}): more epochs of this recipe are not expected to raise it.")


@section("bonn.p4")
def bonn_p4(result, record) -> dict:
    h, per_class, facts = result.tables["history"], result.tables["per_class"], result.facts
    nets = result.tables["networks"].set_index("role")
    labels = {"answer": "Bonn CNN on CIFAR-10", "augmented": "Bonn CNN on CIFAR-10, augmented",
              "plain": "Bonn CNN on CIFAR-10, no regularisation",
              "augmented_decay": "Bonn CNN on CIFAR-10, augmented, no dropout"}
    run = run_of(record, cifar_label("answer"))
    cfg = run["config"]
    final = h.iloc[-1]
    answer, aug, plain, aug_decay = (nets.loc[k].to_dict() for k in ("answer", "augmented", "plain", "augmented_decay"))
    curves = result.tables["curves"]
    hist = {labels[k]: curves[curves["network"] == k] for k in labels}
    acc = Figure(slug("bonn.p4", "acc"), to_svg(figures.accuracy_panels(hist, held_out="validation",
                                                                     drops=tuple(cfg["lr_boundaries"]))),
                 f"CIFAR-10: accuracy on {num(cfg['train_eval_size'])} fixed training images (left) and "
                 + (f"the {num(facts['validation'])}" if (cfg['test_size'] or facts['validation'])
                              >= facts['validation'] else f"{num(cfg['test_size'])} fixed")
                 + f" validation images (right), every {num(cfg['eval_every'])} steps; dotted: rate drops.")
    loss = Figure(slug("bonn.p4", "loss"), to_svg(figures.loss_panels(hist, held_out="validation",
                                                                  drops=tuple(cfg["lr_boundaries"]))),
                  "CIFAR-10, the same four networks: cross-entropy loss on the training sample (left) and the "
                  "validation images (right), log scale, one axis for both; dotted: rate drops.", kind="more")
    within = facts["flat_within"]
    short = {"answer": "exercise 3 (the answer)", "augmented": "exercise 3, augmented",
             "augmented_decay": "exercise 3, augmented, no dropout", "plain": "exercise 2 (no regularisation)"}
    nets_t = Table(slug("bonn.p4", "networks"),
                   f"Four networks, one recipe, seed 0, all scored on unaugmented images; test: all "
                   f"{num(facts['test_examples'])} images.",
                   ["network", "epochs", "training sample", "validation",
                    f"validation spread, last {facts['flat_last']} (points)", "test accuracy"],
                   [[short[k], f"{r['epochs']:.3g}", pct(r["train_accuracy"]),
                     pct(r["validation_accuracy"]),
                     "–" if math.isnan(r["final_spread"]) else f"{100 * r['final_spread']:.2f}",
                     pct(r["test_accuracy"])] for k, r in (("answer", answer), ("augmented", aug),
                                                            ("augmented_decay", aug_decay), ("plain", plain))],
                   ["l", "r", "r", "r", "r", "r"])
    n_test = facts["test_examples"]
    # both networks are scored on the same test images: a paired comparison (McNemar)
    pat = result.tables["patterns"]
    aug_vs, plain_vs = paired(pat, "answer", "augmented", "images"), paired(pat, "answer", "plain", "images")
    decay_vs, decay_aug_vs = paired(pat, "answer", "augmented_decay", "images"), paired(pat, "augmented", "augmented_decay", "images")
    aug_diff = aug_vs.diff
    aug_verdict = ("indistinct" if not aug_vs.significant else "higher" if aug_diff > 0 else "lower")
    confusion = result.tables["confusion"].set_index("index")
    conf = Figure(slug("bonn.p4", "confusion"), to_svg(figures.confusion_matrix(confusion)),
                  "CIFAR-10, the answer's network (exercise 3's, regularised): confusion matrix on the test set; row i "
                  "shows, in %, how the test images of true class i were labelled (each row sums to 100% before rounding).",
                  kind="more")
    pc = per_class.rename(columns={"class": "name"}).sort_values("error", ascending=False)
    rows = [[r.name, pct(r.error, 1), r.most_confused_with, num(r.confused_count), pct(r.error_augmented, 1),
             pct(r.error_augmented_decay, 1), pct(r.error_plain, 1)] for r in pc.itertuples()]
    table = Table(slug("bonn.p4", "classes"), f"The answer's test error per class ({num(facts['test_examples'])} "
                  "test images, hardest first), the class each is most often mistaken for and how often; last three "
                  "columns: the same error for the networks trained on augmented images with and without dropout and "
                  "for the network without regularisation.",
                  ["class", "test error", "most often predicted instead", "how often", "augmented",
                   "augmented, no dropout", "no regularisation"],
                  rows, ["l", "r", "l", "r", "r", "r", "r"], kind="more")
    params = param_table("bonn.p4", "params", result.tables["params"],
                         "The same CNN with 3 input channels on 32×32 images: only the first convolution and the "
                         "first dense layer change size.")
    evals = h[h["step"] > 0].tail(facts["flat_last"])
    per_epoch = answer["steps"] / answer["epochs"]
    drops = [b / per_epoch for b in cfg["lr_boundaries"]]
    # what the fixed rate alone gives: the validation accuracy over the last ten evaluations before the first drop
    fixed = h[(h["step"] > 0) & (h["step"] <= cfg["lr_boundaries"][0])].tail(10)
    gap = answer["train_accuracy"] - answer["test_accuracy"]
    plain_gap = plain["train_accuracy"] - plain["test_accuracy"]
    return {"run": run, "final": final, "acc": acc, "loss": loss, "conf": conf, "table": table, "facts": facts,
            "answer": answer, "aug": aug, "plain": plain, "params": params, "nets": nets_t,
            "against_tutorial": tutorial_sentence(answer["test_accuracy"], facts["target"], n_test), "stopped_flat": answer["epochs"] < answer["cap_epochs"],
            "flat": None if math.isnan(answer["final_spread"]) else answer["final_spread"] <= within, "within": within,
            "flat_from": evals["step"].iloc[0] / per_epoch, "flat_to": evals["step"].iloc[-1] / per_epoch,
            "fixed": None if len(fixed) < 2 else {
                "low": float(fixed["heldout_accuracy"].min()), "high": float(fixed["heldout_accuracy"].max()),
                "first": fixed["step"].iloc[0] / per_epoch, "last": fixed["step"].iloc[-1] / per_epoch},
            "drops": drops, "step_schedule": len(drops) > 1, "minutes": answer["wall_seconds"] / 60, "gap": gap, "fit": "overfits" if gap > 0.05 else "some" if gap > 0.02 else "none",
            "plain_gap": plain_gap, "plain_overfits": plain_gap > 0.05,
            "plain_diff": plain["test_accuracy"] - answer["test_accuracy"],
            "aug_decay": aug_decay, "decay_vs": decay_vs, "decay_aug_vs": decay_aug_vs,
            "decay_verdict": ("indistinct" if not decay_aug_vs.significant else
                              "higher" if decay_aug_vs.diff > 0 else "lower"),
            "decay_flat": None if math.isnan(aug_decay["final_spread"]) else aug_decay["final_spread"] <= within,
            "aug_diff": aug_diff, "aug_vs": aug_vs, "plain_vs": plain_vs, "aug_verdict": aug_verdict, "n_test": n_test,
            "aug_flat": None if math.isnan(aug["final_spread"]) else aug["final_spread"] <= within,
            "aug_capped": aug["epochs"] >= aug["cap_epochs"],
            # fitting its own (augmented) training images no better than held-out ones: a sign of too much regularisation
            "aug_underfits": aug["train_accuracy"] <= aug["validation_accuracy"],
            "best_step": int(h.loc[h["heldout_accuracy"].idxmax(), "step"]),
            "trend": trend_sentence(evals["heldout_accuracy"].to_numpy(), float(h["heldout_accuracy"].max()),
                                    h.loc[h["heldout_accuracy"].idxmax(), "step"] / per_epoch),
            # plain dicts: a pandas row's .name is its index label, not the "name" column
            "hardest": pc.iloc[0].to_dict(), "easiest": pc.iloc[-1].to_dict(),
            # classes tied with the easiest at the precision printed (0.1%) are named with it
            "easiest_names": (easiest := [n for n, e in zip(pc["name"], pc["error"])
                                          if round(float(e), 3) == round(float(pc["error"].iloc[-1]), 3)]),
            "easiest_tied": len(easiest) > 1}
