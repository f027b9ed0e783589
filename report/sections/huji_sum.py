"""Report sections: HUJI 67103, question 5: two digits (experiments.huji_sum)."""

from __future__ import annotations

from ex1.stats import paired, welch
from experiments import huji_sum

from .. import figures
from ..figures import to_svg
from .common import Figure, Table, binomial_se, interval, mean_std_pct, num, one_line, param_table, pct, run_of, section, sign_beyond, slug


def _held_out_text(facts) -> str:
    return ", ".join(f"({a}, {b})" for a, b in facts["held_out"])


def _pair_training(qid: str, result, record, label: str, what: str) -> dict:
    h = result.tables["history"]
    fig = Figure(slug(qid, "acc"), to_svg(figures.accuracy_curves({label: h}, zoom_from=95.0)),
                 f"The {label}: {what} on a fixed sample of training pairs (dashed) and on test pairs (solid), every "
                 f"{run_of(record, label)['config']['eval_every']} steps" + figures.panels_note({label: h}, 95.0))
    params = result.tables["params"]
    return {"fig": fig, "final": h.iloc[-1], "run": run_of(record, label), "held_out": _held_out_text(result.facts),
            "params": param_table(qid, "params", params, f"Layers and parameters of the {label}.")}


@section("huji.5.1")
def huji_5_1(result, record) -> dict:
    return _pair_training("huji.5.1", result, record, "sum classifier", "accuracy of the predicted sum")


@section("huji.5.2")
def huji_5_2(result, record) -> dict:
    ctx = _pair_training("huji.5.2", result, record, "two-digit network",
                         "accuracy of the pair (both digits right)")
    ev = result.tables["evaluation"]
    ctx["test"] = ev[ev["split"] == huji_sum.SEEN].iloc[0]
    return ctx




def pair_error_sentence(d) -> str:
    """Both digits right against p², the rate if the two heads erred independently, with the direction
    chosen by the numbers: errors on the same pairs (positively correlated) push it above p²."""
    both, p2, n = float(d.both_digits_accuracy), float(d.digit_accuracy_squared), float(d.pairs)
    diff, se = both - p2, binomial_se(both, n)
    head = (f"Both digits are right for {pct(both)} of the pairs, against {pct(d.digit_accuracy, 3)}² = {pct(p2)} if "
            f"the two heads erred independently: a difference of {interval(diff, se)}, binomial over the pairs")
    return head + {1: "; the two heads tend to fail on the same pairs (positively correlated errors).",
                   -1: "; the two heads fail on different pairs more often than chance (negatively correlated errors).",
                   0: "; the data cannot tell it from independent errors."}[sign_beyond(diff, 1.96 * se)]


def overfit_sentence(gaps: dict[str, tuple[float, float]]) -> str:
    """Which model's train-minus-test gap is larger, if the binomial interval of the difference says so.
    gaps: model -> (gap, its standard error)."""
    (gs, ss), (gd, sd) = gaps["sum classifier"], gaps["two-digit network"]
    diff, se = gs - gd, (ss ** 2 + sd ** 2) ** 0.5
    head = (f"Accuracy on the training sample ends {100 * gs:.2f} points above test accuracy for the sum classifier "
            f"(its sum right) and {100 * gd:.2f} points for the two-digit network (both digits right), a difference "
            f"of {interval(diff, se)}")
    return head + {1: ": the sum classifier overfits more.", -1: ": the two-digit network overfits more.",
                   0: ": the two gaps are not distinguishable."}[sign_beyond(diff, 1.96 * se)]


@section("huji.5.3")
def huji_5_3(result, record) -> dict:
    ev, curves = result.tables["evaluation"], result.tables["curves"]
    hist = {m: g.reset_index(drop=True) for m, g in curves.groupby("model", sort=False)}
    get = {(r.model, r.split): r for r in ev.itertuples()}
    s_t, d_t = get[("sum classifier", huji_sum.SEEN)], get[("two-digit network", huji_sum.SEEN)]
    s_h, d_h = get[("sum classifier", huji_sum.HELD)], get[("two-digit network", huji_sum.HELD)]
    table = Table(slug("huji.5.3", "eval"), "The seed-0 networks of 5.1 and 5.2 on test pairs of seen and held-out "
                  "combinations.",
                  ["model", "combinations", "pairs", "sum accuracy", "digit accuracy", "both digits right"],
                  [[one_line(r.model), _split(r.split), num(r.pairs), pct(r.sum_accuracy),
                    pct(r.digit_accuracy) if r.digit_accuracy == r.digit_accuracy else "—",
                    pct(r.both_digits_accuracy) if r.both_digits_accuracy == r.both_digits_accuracy else "—"]
                   for r in ev.itertuples()], ["l", "l", "r", "r", "r", "r"])
    fig = Figure(slug("huji.5.3", "acc"), to_svg(figures.accuracy_curves(hist, zoom_from=95.0)),
                 "Both networks: the sum classifier's sum accuracy and the two-digit network's pair accuracy (both "
                 "digits right), on training pairs (dashed) and on test pairs of the seen combinations (solid)"
                 + figures.panels_note(hist, 95.0), kind="more")
    # Both models are scored on the same pairs: for one seed the comparison is paired, and only the pairs one model
    # gets right and the other wrong carry it (McNemar). Over seeds, Welch's test on the seeds' accuracies carries the
    # training noise as well, and decides.
    pat = result.tables["patterns"]
    pd_ = paired(pat[pat["split"] == huji_sum.SEEN], "sum classifier", "two-digit network", "pairs")
    bs = result.tables.get("by_seed")
    seen = bs[bs["split"] == huji_sum.SEEN] if bs is not None else None
    over = None
    if seen is not None and seen["seed"].nunique() > 1:
        acc = {m: seen[seen["model"] == m]["sum_accuracy"] for m in ("sum classifier", "two-digit network")}
        a, b = acc["sum classifier"], acc["two-digit network"]
        over = welch(a.mean(), a.std(), len(a), b.mean(), b.std(), len(b))
    seed0 = (f"on the same {num(pd_.n)} pairs the two-digit network's accuracy minus the sum classifier's is "
             f"{pd_.plain()}; of the pairs only one model gets right, {num(pd_.only_a)} are the sum classifier's and "
             f"{num(pd_.only_b)} the two-digit network's")
    once = " Each model was trained once: another seed's variation is not included."
    if over is not None:
        n_seeds = len(acc["sum classifier"])
        means = (f"sum accuracy {mean_std_pct(b, seeds=False)} for the two-digit network against "
                 f"{mean_std_pct(a, seeds=False)} ({n_seeds} seeds each), a difference of {over.plain()}")
        lead = {"gain": "the two-digit network works better", "loss": "the sum classifier works better",
                "indistinct": "the two strategies cannot be told apart"}[over.direction]
        verdict = f"On the seen combinations {lead}: {means}."
    elif not pd_.significant:
        verdict = (f"On the seen combinations the two strategies cannot be told apart: {pct(d_t.sum_accuracy)} for "
                   f"the two-digit network against {pct(s_t.sum_accuracy)}; {seed0}.{once}")
    else:
        better = "two-digit network" if pd_.diff > 0 else "sum classifier"
        verdict = (f"On the seen combinations the {better} works better: a sum accuracy of "
                   f"{pct(max(d_t.sum_accuracy, s_t.sum_accuracy))} against "
                   f"{pct(min(d_t.sum_accuracy, s_t.sum_accuracy))}; {seed0}.{once}")
    seeds_t = None
    if bs is not None and bs["seed"].nunique() > 1:
        wide = bs.pivot_table(index="seed", columns=["model", "split"], values="sum_accuracy")
        cols = [(m, sp) for m in ("sum classifier", "two-digit network") for sp in (huji_sum.SEEN, huji_sum.HELD)]
        seeds_t = Table(slug("huji.5.3", "seeds"), "Sum accuracy of both models trained with every seed, on the "
                        "same test pairs: of the combinations seen in training, and of those held out of it.",
                        ["seed"] + [_header(m, sp) for m, sp in cols],
                        [[str(int(sd))] + [pct(wide.loc[sd, c]) for c in cols] for sd in wide.index],
                        ["r"] * (1 + len(cols)), kind="more")
    gaps = {}
    for r in record.get("runs", []):
        h = hist.get(r["label"])
        if h is not None:
            n_train = min(r["config"]["train_eval_size"] or r["train_examples"], r["train_examples"])
            n_test = r["config"]["test_size"] or int(result.facts.get("test_pairs", s_t.pairs))
            tr, te = float(h["train_accuracy"].iloc[-1]), float(h["heldout_accuracy"].iloc[-1])
            gaps[r["label"]] = (tr - te, (binomial_se(tr, n_train) ** 2 + binomial_se(te, n_test) ** 2) ** 0.5)
    held_se = {m: binomial_se(get[(m, huji_sum.HELD)].sum_accuracy, get[(m, huji_sum.HELD)].pairs)
               for m in ("sum classifier", "two-digit network")}
    held_seeds = None   # the held-out pairs' sum accuracy over the seeds, per model
    if bs is not None and bs["seed"].nunique() > 1:
        held = bs[bs["split"] == huji_sum.HELD]
        held_seeds = {"n": int(held["seed"].nunique()),
                      **{m: mean_std_pct(held[held["model"] == m]["sum_accuracy"], seeds=False)
                         for m in ("sum classifier", "two-digit network")}}
    probe = probe_context(result, s_t, s_h)
    pair_fig = None
    if "by_pair" in result.tables:
        pair_fig = Figure(slug("huji.5.3", "pairs"), to_svg(figures.pair_map(
            result.tables["by_pair"], result.facts["held_out"], ("sum classifier", "two-digit network"))),
            "Sum accuracy in % of both seed-0 models by digit pair, on all test pairs (row: left digit, column: "
            "right digit); framed in red: the combinations held out of training.")
    return {"data": data_context(result), "probe": probe, "pair_fig": pair_fig, "held_seeds": held_seeds, "seeds_t": seeds_t, "table": table, "fig": fig, "verdict": verdict, "d_t": d_t, "s_t": s_t, "d_h": d_h, "s_h": s_h,
            "sum_held_mostly_wrong": s_h.sum_accuracy < 0.5,
            "pair_errors": pair_error_sentence(d_t),
            "overfit": overfit_sentence(gaps) if len(gaps) == 2 else "",
            "held_gap": s_h.sum_accuracy - s_t.sum_accuracy, "held_digits_gap": d_h.sum_accuracy - d_t.sum_accuracy,
            "held_out": _held_out_text(result.facts), "facts": result.facts,
            "uniform": _uniform(len(result.facts["held_out"]), s_t, s_h, d_t, d_h),
            "most_per_sum": _most_per_sum(result.facts["held_out"]),
            "sum_generalises": s_h.sum_accuracy >= s_t.sum_accuracy - 1.96 * (held_se["sum classifier"] ** 2 + binomial_se(
                s_t.sum_accuracy, s_t.pairs) ** 2) ** 0.5,
            "digits_generalise": d_h.sum_accuracy >= d_t.sum_accuracy - 1.96 * (held_se["two-digit network"] ** 2 + binomial_se(
                d_t.sum_accuracy, d_t.pairs) ** 2) ** 0.5}


def _most_per_sum(held_out) -> int:
    """The most digit combinations that share one sum among those trained on (ten for sum 9 with none held out)."""
    held = {tuple(int(v) for v in pair) for pair in held_out}
    counts = [sum((a, s - a) not in held for a in range(10) if 0 <= s - a <= 9) for s in range(19)]
    return max(counts)


def _uniform(n_held: int, s_t, s_h, d_t, d_h) -> dict:
    """Sum accuracy over all 100 digit combinations equally likely: the seen and held-out rows weighted by how many
    combinations each covers (the test pairs are drawn per combination, so each row is a mean over its own)."""
    share = n_held / 100
    return {"n": n_held, "share": share, "sum": (1 - share) * s_t.sum_accuracy + share * s_h.sum_accuracy,
            "digits": (1 - share) * d_t.sum_accuracy + share * d_h.sum_accuracy}


def _header(model: str, split: str) -> str:
    """'two-digit network, seen' for a column head: it may wrap between words, never at the hyphen."""
    return f"{model}, {_split(split)}".replace("-", "-\u2060")


def _split(split: str) -> str:
    """A table's short name for a split of the test pairs."""
    return {huji_sum.SEEN: "seen", huji_sum.HELD: "held out"}.get(split, split)


def data_context(result) -> dict | None:
    """Sum accuracy of both models against the number of training pairs (seed 0, same steps): a table and the gap
    between them at the fewest and at the most pairs."""
    t = result.tables.get("by_train_pairs")
    if t is None or t["train_pairs"].nunique() < 2:
        return None
    wide = t.pivot_table(index="train_pairs", columns=["model", "split"], values="sum_accuracy").sort_index()
    cols = [(m, sp) for m in ("sum classifier", "two-digit network") for sp in (huji_sum.SEEN, huji_sum.HELD)]
    table = Table(slug("huji.5.3", "data"), "Sum accuracy of both models (seed 0) trained on fewer pairs with the same "
                  "steps and recipe, on the same test pairs as above.",
                  ["training pairs"] + [_header(m, sp)
                                        for m, sp in cols],
                  [[num(n)] + [pct(wide.loc[n, c]) for c in cols] for n in wide.index], ["r"] * (1 + len(cols)),
                  kind="more")
    gap = {n: wide.loc[n, ("two-digit network", huji_sum.SEEN)] - wide.loc[n, ("sum classifier", huji_sum.SEEN)]
           for n in wide.index}
    few, most = wide.index[0], wide.index[-1]
    bs = result.tables.get("by_seed")
    spread = None
    if bs is not None and bs["seed"].nunique() > 1:
        seen = bs[bs["split"] == huji_sum.SEEN]
        spread = float(seen.groupby("model")["sum_accuracy"].std().max())
    # the change of the lead from the most pairs to the fewest is a difference of four single-seed accuracies: with a
    # seed-to-seed standard deviation of at most `spread` each, its 95% band is 1.96 * 2 * spread
    change = gap[few] - gap[most]
    band = None if spread is None else 1.96 * 2 * spread
    wider = bool(gap[few] > 0 and band is not None and change > band)
    beyond = bool(band is not None and abs(change) > band)
    return {"table": table, "spread": spread, "wider": wider, "beyond": beyond, "few": int(few), "most": int(most),
            "change": float(change), "band": band,
            "gap_few": float(gap[few]),
            "gap_most": float(gap[most]), "sum_few": float(wide.loc[few, ("sum classifier", huji_sum.SEEN)]),
            "digits_few": float(wide.loc[few, ("two-digit network", huji_sum.SEEN)])}


def probe_context(result, s_t=None, s_h=None) -> dict | None:
    """The linear probes' table and what they show about the sum classifier's features.

    If a probe reads each digit with accuracy at least p, reading both and adding them is right for at least
    2p - 1 of the pairs (each digit is wrong on at most 1 - p of them). Where that bound exceeds the sum
    classifier's own sum accuracy beyond the binomial noise of both, its features hold digits its sum does not use."""
    p = result.tables.get("probes")
    if p is None or p.empty:
        return None
    acc = {(r.model, r.split, r.digit): r.probe_accuracy for r in p.itertuples()}
    rows = [[one_line(m), _split(sp), pct(acc[(m, sp, "left")]), pct(acc[(m, sp, "right")])]
            for m in ("sum classifier", "two-digit network") for sp in (huji_sum.SEEN, huji_sum.HELD)
            if (m, sp, "left") in acc]
    table = Table(slug("huji.5.3", "probe"), "Linear probes: each digit read from a seed-0 network's 256 hidden "
                  f"features by a least-squares map fitted on {num(result.facts.get('probe_pairs', 0))} training pairs; "
                  "accuracy on test pairs.", ["network", "combinations", "left digit", "right digit"], rows,
                  ["l", "l", "r", "r"], kind="more")   # the text quotes the numbers its argument needs
    held = min(acc[("sum classifier", huji_sum.HELD, d)] for d in ("left", "right"))
    seen = min(acc[("sum classifier", huji_sum.SEEN, d)] for d in ("left", "right"))
    ref = {sp: min(acc.get(("two-digit network", sp, d), float("nan")) for d in ("left", "right"))
           for sp in (huji_sum.SEEN, huji_sum.HELD)}
    unused = []   # (combinations, 2p - 1, the sum classifier's sum accuracy) where the bound is clearly above it
    for name, p_min, r in (("seen", seen, s_t), ("held-out", held, s_h)):
        if r is None:
            continue
        bound = 2 * p_min - 1
        se = ((2 * binomial_se(p_min, r.pairs)) ** 2 + binomial_se(r.sum_accuracy, r.pairs) ** 2) ** 0.5
        if bound - 1.96 * se > r.sum_accuracy:
            unused.append((name, bound, float(r.sum_accuracy)))
    return {"table": table, "held_min": held, "seen_min": seen, "readable": held >= 0.9,
            "ref_seen": ref[huji_sum.SEEN], "ref_held": ref[huji_sum.HELD], "unused": unused}


# ----------------------------------------------------------------------------- HUJI 4
