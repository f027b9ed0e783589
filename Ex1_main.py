"""Ex1_main: train, answer and report every question of the CNN assignment (HUJI 67103, Ex. 1).

    python Ex1_main.py --all                      # full profile: the sheets' own step counts
    python Ex1_main.py --all --profile quick      # minutes; the PDF says its numbers are not results
    python Ex1_main.py --only huji.1 --data-dir ../shared/datasets
    python Ex1_main.py --list

Below the CLI, one small function per answer or plot of the report, as the sheet asks; each
computes (or loads from the results store) its question and returns a table or a figure.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter hides the progress lines

DEFAULT_OUT = "out"


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def safe_names(names: str) -> str:
    """'Yann LeCun, Alex Krizhevsky' -> 'YannLeCun_AlexKrizhevsky', as the sheet's file names want."""
    people = [p.strip() for p in names.split(",") if p.strip()]
    parts = ["".join(p.split()) for p in people]
    if not parts or len(parts) > 2 or not all(re.fullmatch(r"[A-Za-z][A-Za-z'\-]{0,40}", p) for p in parts):
        raise UsageError(
            f"--names {names!r} cannot make a safe file name: give one or two names separated by a comma, "
            "letters (and - or ') only, e.g. --names \"Yann LeCun, Alex Krizhevsky\"")
    return "_".join(p.replace("'", "") for p in parts)


def _log(line: str) -> None:
    print(line, flush=True)  # progress must show at once, also when stdout is a file


def make_context(profile: str = "full", data_dir: str | None = None, out: str = DEFAULT_OUT,
                 rerun: bool = False, precision: str = "auto", log=_log):
    from ex1.machine import resolve_precision
    from ex1.runner import Context, get_profile
    from ex1.store import Store

    return Context(profile=get_profile(profile), store=Store(Path(out) / "store"), data_dir=data_dir,
                   precision=resolve_precision(precision), rerun=rerun, log=log)


def answer(qid: str, **ctx_kwargs):
    """The Answer (result tables, facts, record) to one question id, computed or from the store."""
    import experiments

    (q,) = experiments.select([qid])
    return experiments.execute(q, make_context(**ctx_kwargs))


# ----------------------------------------------------------------- one function per answer or plot


def q1_1_parameter_count(**ctx_kwargs):
    """HUJI 1.1: the free-parameter count, layer by layer, for both padding readings (DataFrames)."""
    a = answer("huji.1.1", **ctx_kwargs)
    return {k.removeprefix("params_"): v for k, v in a.result.tables.items()}


def q1_2_accuracy_table(**ctx_kwargs):
    """HUJI 1.2: train and test accuracy every 500 iterations (DataFrame)."""
    return answer("huji.1.2", **ctx_kwargs).result.table("history")


def q1_2_accuracy_plot(**ctx_kwargs):
    """HUJI 1.2: the plot of train and test accuracy against iterations (matplotlib Figure)."""
    from report import figures

    return figures.accuracy_curves({"HUJI network": q1_2_accuracy_table(**ctx_kwargs)})


def _tables(qid: str, **ctx_kwargs):
    return answer(qid, **ctx_kwargs).result.tables


def _by(df, column: str) -> dict:
    return {k: g.reset_index(drop=True) for k, g in df.groupby(column, sort=False)}


def q2_final_table(**ctx_kwargs):
    """HUJI 2.2: final train and test accuracy of the original, the linear network and softmax regression."""
    return _tables("huji.2", **ctx_kwargs)["final"]


def q2_affinity_check(**ctx_kwargs):
    """HUJI 2.1: f(a x + (1-a) y) against a f(x) + (1-a) f(y) on real images, both networks."""
    return _tables("huji.2", **ctx_kwargs)["affinity"]


def q2_accuracy_plot(**ctx_kwargs):
    """HUJI 2.2-2.3: accuracy curves of the non-linear and linear networks on the same axes."""
    from report import figures

    return figures.accuracy_curves(_by(_tables("huji.2", **ctx_kwargs)["curves"], "model"), zoom_from=88.0)


def q3_1_sweep_table(**ctx_kwargs):
    """HUJI 3.1.1: every shallow candidate, its parameters and test accuracy, the frontier marked."""
    return _tables("huji.3.1", **ctx_kwargs)["sweep"]


def q3_1_loss_plot(**ctx_kwargs):
    """HUJI 3.1.2: the loss during training of the smallest shallow network reaching 95%."""
    from report import figures

    return figures.loss_curves({"shallow": _tables("huji.3.1", **ctx_kwargs)["chosen_history"]})


def q3_2_sweep_table(**ctx_kwargs):
    """HUJI 3.2.1: every reduced deep candidate, its parameters and test accuracy."""
    return _tables("huji.3.2", **ctx_kwargs)["sweep"]


def q3_2_training_plot(**ctx_kwargs):
    """HUJI 3.2.2: the training of the smallest reduced deep network reaching 95%."""
    from report import figures

    return figures.accuracy_curves({"deep": _tables("huji.3.2", **ctx_kwargs)["chosen_history"]}, zoom_from=90.0)


def q3_frontier_plot(**ctx_kwargs):
    """HUJI 3.1-3.2: test accuracy against parameters for both sweeps."""
    from report import figures

    a, b = answer("huji.3.1", **ctx_kwargs).result, answer("huji.3.2", **ctx_kwargs).result
    return figures.frontier({"shallow": a.tables["sweep"], "deep": b.tables["sweep"]}, a.facts["target"],
                            {"shallow": a.facts["chosen"], "deep": b.facts["chosen"]})


def q3_3_convergence_table(**ctx_kwargs):
    """HUJI 3.3: steps and seconds to 95% and to the plateau, shallow against deep."""
    return _tables("huji.3.3", **ctx_kwargs)["speed"]


def q4_overfitting_plot(**ctx_kwargs):
    """HUJI 4: train and test accuracy and their ratio, all examples against 250."""
    from report import figures

    return figures.overfitting_curves(_tables("huji.4", **ctx_kwargs)["curves"])


def q4_summary_table(**ctx_kwargs):
    """HUJI 4: test accuracy and ratio, mean and std over seeds, per network size and keep probability."""
    return _tables("huji.4", **ctx_kwargs)["summary"]


def q5_1_accuracy_plot(**ctx_kwargs):
    """HUJI 5.1.1: train and test accuracy of the sum classifier."""
    from report import figures

    return figures.accuracy_curves({"sum classifier": _tables("huji.5.1", **ctx_kwargs)["history"]}, zoom_from=95.0)


def q5_2_accuracy_plot(**ctx_kwargs):
    """HUJI 5.2.1: train and test accuracy (both digits right) of the two-digit network."""
    from report import figures

    return figures.accuracy_curves({"two-digit network": _tables("huji.5.2", **ctx_kwargs)["history"]},
                                   zoom_from=95.0)


def q5_3_comparison_table(**ctx_kwargs):
    """HUJI 5.3: sum accuracy of both strategies on test pairs and on held-out combinations."""
    return _tables("huji.5.3", **ctx_kwargs)["evaluation"]


def theory_checks(qid: str, **ctx_kwargs):
    """The numerical checks behind a derivation (huji.t1-t4, tuebingen.2-3, eth.1-3, bonn.t1-t2)."""
    return _tables(qid, **ctx_kwargs)


# ----------------------------------------------------------------- the CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="Ex1_main.py", description="Train, answer and report the CNN assignment questions.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Data: --data-dir DIR (or EX1_DATA_DIR) holding mnist.npz / cifar10.npz in keras "
               "load_data() layout; otherwise TensorFlow Datasets downloads them.")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--all", action="store_true", help="answer every question (the default)")
    what.add_argument("--only", nargs="+", metavar="ID", help="question ids or sheet prefixes, e.g. huji.1 huji.3.2")
    what.add_argument("--list", action="store_true", help="print the question ids with titles and exit")
    p.add_argument("--profile", default="full", help="full (the sheets' step counts; default) or quick (minutes)")
    p.add_argument("--data-dir", help="directory holding mnist.npz / cifar10.npz (else $EX1_DATA_DIR, then TFDS)")
    p.add_argument("--out", default=DEFAULT_OUT, help="output directory for the store and the PDF (default: out)")
    p.add_argument("--rerun", action="store_true", help="recompute the selected questions and their training runs")
    p.add_argument("--precision", default="auto",
                   help="auto (bfloat16 where the CPU has it natively), float32 or mixed_bfloat16")
    p.add_argument("--names", help='student names for the hand-in, e.g. "Yann LeCun, Alex Krizhevsky"')
    p.add_argument("--zip", action="store_true", help="also write Ex1_<names>.zip (the .py files and the PDF)")
    return p


def _check_out_dir(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"output directory {out} is not writable ({e.strerror or e}); choose another with --out DIR")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def run(args: argparse.Namespace) -> Path | None:
    import experiments
    from ex1.data import DataError
    from ex1.machine import resolve_precision
    from ex1.runner import get_profile

    if args.list:
        for q in experiments.QUESTIONS.values():
            print(f"{q.id:<12} {q.title}")
        return None
    try:
        get_profile(args.profile)
        resolve_precision(args.precision)
        selected = experiments.select(args.only)
    except ValueError as e:
        raise UsageError(str(e)) from None
    names = safe_names(args.names) if args.names else None
    if args.zip and not names:
        raise UsageError("--zip needs --names: the sheet names the archive after the students")
    if args.data_dir and not Path(args.data_dir).is_dir():
        raise UsageError(f"data directory {args.data_dir} does not exist; pass a directory holding "
                         "mnist.npz / cifar10.npz, or leave --data-dir out to use TensorFlow Datasets")
    out = Path(args.out)
    _check_out_dir(out)

    from ex1.fsutil import clean_dead_temporaries
    from report.build import build_pdf, build_zip, write_tables

    ctx = make_context(args.profile, args.data_dir, str(out), args.rerun, args.precision)
    ctx.store.check()
    # Debris of killed runs (store entries, checkpoints, the PDF's and tables' temporaries); what a
    # live process is writing stays.
    ctx.store.clean_temporaries()
    clean_dead_temporaries(out, recursive=False)
    clean_dead_temporaries(out / "tables")
    t0 = time.perf_counter()
    answers = []
    try:
        experiments.preflight(selected, ctx)   # data problems now, not after hours of training
        for q in selected:
            answers.append(experiments.execute(q, ctx))
            rec = answers[-1].record
            reused = [r for r in rec["runs"] if r["cache_hit"]]
            # The question's own time, and apart from it what its reused runs once cost: a sum of
            # the two would count a shared run in every question that uses it.
            if rec["cache_hit"]:
                runs_s = sum(r["wall_seconds"] for r in rec["runs"])
                how = "from the store" + (f" (its {_count(len(rec['runs']), 'training run')} took {runs_s:.1f} s)"
                                          if rec["runs"] else "")
            else:
                how = f"computed in {rec['wall_seconds']:.1f} s"
                if reused:
                    how += (f", reusing {len(reused)} of {_count(len(rec['runs']), 'training run')} "
                            f"({sum(r['wall_seconds'] for r in reused):.1f} s when they were trained)")
            print(f"{q.id}: {how}", flush=True)
    except DataError as e:
        raise UsageError(str(e)) from None
    stem = f"Ex1_{names}" if names else "Ex1_report" + ("" if args.profile == "full" else f"_{args.profile}")
    pdf = build_pdf(answers, ctx, out / f"{stem}.pdf", names=args.names, selected_all=not args.only,
                    run_seconds=time.perf_counter() - t0)
    print(f"report: {pdf}")
    print(f"tables: {write_tables(answers, out / 'tables' / args.profile)}")
    if args.zip:
        z = build_zip(pdf, Path(__file__).resolve().parent, out / f"{stem}.zip")
        print(f"hand-in archive: {z}")
    return pdf


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ex1.fsutil import WriteError

    try:
        run(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except WriteError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished results and the last evaluation checkpoint are kept; "
              "run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
