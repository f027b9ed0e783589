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


def __getattr__(name: str):
    # Ex1_main.NotStored, for `except Ex1_main.NotStored` around the answer functions; imported on first use so
    # that the command line stays fast.
    if name == "NotStored":
        from experiments import NotStored

        return NotStored
    raise AttributeError(f"module 'Ex1_main' has no attribute {name!r}")


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


_NAME_PUNCTUATION = set(" -'.’")


def parse_names(names: str) -> list[str]:
    """'Jürgen Schmidhuber, יעל כהן' -> ['Jürgen Schmidhuber', 'יעל כהן']: one or two names as people write
    them, in any script; what cannot be a name (path separators, control characters, symbols) is refused."""
    import unicodedata

    example = 'e.g. --names "Yann LeCun, Alex Krizhevsky"'
    people = [" ".join(p.split()) for p in names.split(",")]
    if not any(people):
        raise UsageError(f"--names is empty: give one or two students' names separated by a comma, {example}, "
                         "or leave --names out")
    if len(people) > 2:
        raise UsageError(f"--names {names!r} gives {len(people)} names: the sheet's hand-in is for one or two "
                         f"students, so give one or two names separated by a comma, {example}")
    bad = [p for p in people if not p or not any(c.isalpha() for c in p) or any(
        not (unicodedata.category(c)[0] in "LM" or c in _NAME_PUNCTUATION) for c in p)]
    if bad or any(len(p) > 60 for p in people):
        raise UsageError(
            f"--names {names!r} cannot make a safe file name: give one or two names separated by a comma, "
            "in letters of any script with spaces, - ' or . between them (no /, \\, digits, symbols or "
            f"control characters; at most 60 characters each), {example}")
    return people


def safe_names(names: str) -> str:
    """The file-name part for the names: an ASCII transliteration where one exists ('Jürgen Schmidhuber'
    -> 'JurgenSchmidhuber'), 'Student<k>' for a name with none (an ASCII file name travels everywhere)."""
    from anyascii import anyascii

    parts = []
    for k, person in enumerate(parse_names(names), 1):
        words = [re.sub(r"[^A-Za-z-]", "", w) for w in anyascii(person).split()]
        ascii_name = "".join(w[:1].upper() + w[1:] for w in words if w)
        parts.append(ascii_name[:40] or f"Student{k}")
    return "_".join(parts)


def _log(line: str) -> None:
    print(line, flush=True)  # progress must show at once, also when stdout is a file


def make_context(profile: str = "full", data_dir: str | None = None, out: str = DEFAULT_OUT,
                 rerun: bool = False, precision: str = "auto", log=_log):
    from ex1.runner import Context, get_profile
    from ex1.store import Store

    return Context(profile=get_profile(profile), store=Store(Path(out) / "store"), data_dir=data_dir,
                   precision=chosen_precision(precision, out, profile), rerun=rerun, log=log)


def chosen_precision(precision: str, out: str = DEFAULT_OUT, profile: str = "full") -> str:
    """The precision a command computes and reads answers in. 'auto' is this machine's fastest accurate one
    (ex1.machine.auto_precision), unless the results folder holds answers of this profile in another precision and
    none in it: then the one most of them were computed in, so that a TA, or the student on a second machine, reads
    and re-renders them instead of training everything again (the precision is part of every answer's key)."""
    from ex1.machine import resolve_precision

    mine = resolve_precision(precision)
    if precision != "auto":
        return mine
    import experiments

    held = experiments.stored_precisions(Path(out) / "store", profile)
    return mine if not held or mine in held else max(sorted(held), key=held.get)


def answer(qid: str, compute: bool = False, **ctx_kwargs):
    """The Answer (result tables, facts, record) to one question id, from the store.

    When it is not stored this raises experiments.NotStored, whose message names the command that
    computes it; compute=True computes it here instead (which may train for minutes or hours).
    ctx_kwargs: profile, data_dir, out, rerun, precision, as on the command line."""
    _start_tensorflow_quietly()
    import experiments

    (q,) = experiments.select([qid])
    ctx = make_context(**ctx_kwargs)
    return experiments.execute(q, ctx) if compute else experiments.stored(q, ctx)


def _start_tensorflow_quietly() -> None:
    # TensorFlow's start-up lines ("All log messages before absl::InitializeLog()", oneDNN's notice, "failed call
    # to cuInit" on every CPU machine) are written below Python, where a notebook shows them as red output and
    # TF_CPP_MIN_LOG_LEVEL does not reach them: os.devnull takes them for the import and the device search only.
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


# ----------------------------------------------------------------- one function per answer or plot


def report_figure(qid: str, name: str, **ctx_kwargs):
    """The matplotlib Figure that the report draws as figure `name` of answer qid: the very drawing of the PDF
    and of its files out/figures/<profile>/<qid>/<figure id>.svg|png (figure id: qid with '-' for '.', '-', name)."""
    from report import figures, sections

    drawn = {f.id: f for f in sections.figures_in(sections.build(answer(qid, **ctx_kwargs)))}
    wanted = f"{qid.replace('.', '-')}-{name}"
    if wanted not in drawn:
        raise LookupError(f"the report draws no figure {wanted} for {qid} from these results; it draws "
                          f"{', '.join(drawn) or 'none'}")
    fig = figures.drawn(drawn[wanted].svg)
    figures.forget_drawn()   # the question's other figures, drawn with it
    return fig


def _tables(qid: str, **ctx_kwargs):
    return answer(qid, **ctx_kwargs).result.tables


def q1_1_parameter_count(**ctx_kwargs):
    """HUJI 1.1: the free-parameter count, layer by layer, for both padding readings (DataFrames)."""
    a = answer("huji.1.1", **ctx_kwargs)
    return {k.removeprefix("params_"): v for k, v in a.result.tables.items()}


def q1_1_parameter_plot(**ctx_kwargs):
    """HUJI 1.1: parameters per layer under the two padding readings."""
    return report_figure("huji.1.1", "bars", **ctx_kwargs)


def q1_2_accuracy_table(**ctx_kwargs):
    """HUJI 1.2: train and test accuracy every 500 iterations (DataFrame)."""
    return answer("huji.1.2", **ctx_kwargs).result.table("history")


def q1_2_accuracy_plot(**ctx_kwargs):
    """HUJI 1.2: train and test accuracy against training iterations, read every 500."""
    return report_figure("huji.1.2", "acc", **ctx_kwargs)


def q1_2_errors_plot(**ctx_kwargs):
    """HUJI 1.2: the trained network's most confident test errors, with the probability it gave them."""
    return report_figure("huji.1.2", "errors", **ctx_kwargs)


def q1_2_loss_plot(**ctx_kwargs):
    """HUJI 1.2: training-sample and test loss against iterations."""
    return report_figure("huji.1.2", "loss", **ctx_kwargs)


def q2_final_table(**ctx_kwargs):
    """HUJI 2.2: final train and test accuracy of the original, the linear network and softmax regression."""
    return _tables("huji.2", **ctx_kwargs)["final"]


def q2_affinity_check(**ctx_kwargs):
    """HUJI 2.1: f(a x + (1-a) y) against a f(x) + (1-a) f(y) on real images, both networks."""
    return _tables("huji.2", **ctx_kwargs)["affinity"]


def q2_accuracy_plot(**ctx_kwargs):
    """HUJI 2.2-2.3: accuracy curves of the non-linear and linear networks and softmax regression."""
    return report_figure("huji.2", "acc", **ctx_kwargs)


def q2_weights_plot(**ctx_kwargs):
    """HUJI 2.3: each pixel's weight in each digit's logit, in the linear network and softmax regression."""
    return report_figure("huji.2", "templates", **ctx_kwargs)


def q3_1_sweep_table(**ctx_kwargs):
    """HUJI 3.1.1: every shallow candidate, its parameters and validation accuracy over seeds, the frontier marked."""
    return _tables("huji.3.1", **ctx_kwargs)["sweep"]


def q3_1_test_table(**ctx_kwargs):
    """HUJI 3.1.1: the chosen shallow network's validation and test accuracy per seed, measured once after the choice."""
    return _tables("huji.3.1", **ctx_kwargs)["chosen_test"]


def q3_1_frontier_plot(**ctx_kwargs):
    """HUJI 3.1.1: validation accuracy against parameters of every shallow candidate, every seed and the mean."""
    return report_figure("huji.3.1", "frontier", **ctx_kwargs)


def q3_1_loss_plot(**ctx_kwargs):
    """HUJI 3.1.2: the loss during training of the smallest shallow network reaching 95%."""
    return report_figure("huji.3.1", "loss", **ctx_kwargs)


def q3_2_sweep_table(**ctx_kwargs):
    """HUJI 3.2.1: every reduced deep candidate, its parameters and validation accuracy over seeds."""
    return _tables("huji.3.2", **ctx_kwargs)["sweep"]


def q3_2_test_table(**ctx_kwargs):
    """HUJI 3.2.1: the chosen reduced deep network's validation and test accuracy per seed, measured once after the choice."""
    return _tables("huji.3.2", **ctx_kwargs)["chosen_test"]


def q3_2_frontier_plot(**ctx_kwargs):
    """HUJI 3.2.1: validation accuracy against parameters of every reduced deep candidate, every seed and the mean."""
    return report_figure("huji.3.2", "frontier", **ctx_kwargs)


def q3_2_loss_plot(**ctx_kwargs):
    """HUJI 3.2.2: the loss during training of the smallest reduced deep network reaching 95%."""
    return report_figure("huji.3.2", "loss", **ctx_kwargs)


def q3_2_training_plot(**ctx_kwargs):
    """HUJI 3.2.2: the training (train and validation accuracy) of the smallest reduced deep network reaching 95%."""
    return report_figure("huji.3.2", "acc", **ctx_kwargs)


def q3_3_convergence_table(**ctx_kwargs):
    """HUJI 3.3: per seed, steps and seconds to 99% of the final accuracy and to a common level, shallow and deep."""
    return _tables("huji.3.3", **ctx_kwargs)["speed"]


def q3_3_step_profile_table(**ctx_kwargs):
    """HUJI 3.3: where a training step's time goes, layer by layer, for both networks (milliseconds per step)."""
    return _tables("huji.3.3", **ctx_kwargs)["profile"]


def q3_3_time_plot(**ctx_kwargs):
    """HUJI 3.3: test accuracy of the two chosen networks against seconds of training."""
    return report_figure("huji.3.3", "time", **ctx_kwargs)


def q3_3_steps_plot(**ctx_kwargs):
    """HUJI 3.3: test accuracy of the two chosen networks against training steps."""
    return report_figure("huji.3.3", "steps", **ctx_kwargs)


def q4_overfitting_plot(**ctx_kwargs):
    """HUJI 4.1: train and test accuracy and their ratio, all examples against 250."""
    return report_figure("huji.4", "curves", **ctx_kwargs)


def q4_summary_table(**ctx_kwargs):
    """HUJI 4: test accuracy and ratio, mean and std over seeds, per network size and keep probability."""
    return _tables("huji.4", **ctx_kwargs)["summary"]


def q4_size_plot(**ctx_kwargs):
    """HUJI 4.1: smaller networks on 250 examples: test accuracy and ratio per network size."""
    return report_figure("huji.4", "size-fig", **ctx_kwargs)


def q4_dropout_plot(**ctx_kwargs):
    """HUJI 4.1, the alternative: dropout on 250 examples, test accuracy and ratio per keep probability."""
    return report_figure("huji.4", "drop-fig", **ctx_kwargs)


def q5_1_accuracy_plot(**ctx_kwargs):
    """HUJI 5.1.1: train and test accuracy of the sum classifier."""
    return report_figure("huji.5.1", "acc", **ctx_kwargs)


def q5_2_accuracy_plot(**ctx_kwargs):
    """HUJI 5.2.1: train and test accuracy (both digits right) of the two-digit network."""
    return report_figure("huji.5.2", "acc", **ctx_kwargs)


def q5_3_comparison_table(**ctx_kwargs):
    """HUJI 5.3: sum accuracy of both strategies on test pairs and on held-out combinations."""
    return _tables("huji.5.3", **ctx_kwargs)["evaluation"]


def q5_3_seeds_table(**ctx_kwargs):
    """HUJI 5.3: sum accuracy of both models for every seed, on seen and held-out combinations."""
    return _tables("huji.5.3", **ctx_kwargs)["by_seed"]


def q5_3_less_data_table(**ctx_kwargs):
    """HUJI 5.3: sum accuracy of both models trained on fewer pairs with the same steps (seed 0)."""
    return _tables("huji.5.3", **ctx_kwargs)["by_train_pairs"]


def q5_3_probe_table(**ctx_kwargs):
    """HUJI 5.3: linear probes reading each digit from a seed-0 network's hidden features."""
    return _tables("huji.5.3", **ctx_kwargs)["probes"]


def q5_3_pairs_plot(**ctx_kwargs):
    """HUJI 5.3: sum accuracy of both strategies by digit pair, held-out combinations marked."""
    return report_figure("huji.5.3", "pairs", **ctx_kwargs)


def q5_3_accuracy_plot(**ctx_kwargs):
    """HUJI 5.3: the sum classifier's and the two-digit network's accuracy curves on the same axes."""
    return report_figure("huji.5.3", "acc", **ctx_kwargs)


# Tübingen, ETH and Bonn: the same kind of function, named by sheet and question.


def tuebingen_1_error_table(**ctx_kwargs):
    """Tübingen 1: train and test error of the chosen schedule every 500 steps (DataFrame)."""
    return _tables("tuebingen.1", **ctx_kwargs)["errors"]


def tuebingen_1_schedule_table(**ctx_kwargs):
    """Tübingen 1: the learning-rate schedules tried on validation images, and the one chosen (DataFrame)."""
    return _tables("tuebingen.1", **ctx_kwargs)["schedules"]


def tuebingen_1_error_plot(**ctx_kwargs):
    """Tübingen 1: train and test error of the chosen schedule against steps."""
    return report_figure("tuebingen.1", "errors", **ctx_kwargs)


def tuebingen_1_schedule_plot(**ctx_kwargs):
    """Tübingen 1: the two learning-rate schedules tried, training and validation error against steps."""
    return report_figure("tuebingen.1", "choice", **ctx_kwargs)


def bonn_p1_sweep_table(**ctx_kwargs):
    """Bonn programming 1: each learning rate's validation error and the one chosen (DataFrame)."""
    return _tables("bonn.p1", **ctx_kwargs)["selection"]


def bonn_p1_sweep_plot(**ctx_kwargs):
    """Bonn programming 1: validation error and training-sample loss against iteration, one curve per learning rate."""
    return report_figure("bonn.p1", "sweep", **ctx_kwargs)


def bonn_p2_accuracy_table(**ctx_kwargs):
    """Bonn programming 2: the CNN's train and test accuracy and loss at every evaluation (DataFrame)."""
    return _tables("bonn.p2", **ctx_kwargs)["history"]


def bonn_p2_loss_plot(**ctx_kwargs):
    """Bonn programming 2: training loss (on a fixed training sample) and test loss against steps."""
    return report_figure("bonn.p2", "loss", **ctx_kwargs)


def bonn_p2_accuracy_plot(**ctx_kwargs):
    """Bonn programming 2: train and test accuracy against steps."""
    return report_figure("bonn.p2", "acc", **ctx_kwargs)


def bonn_p3_summary_table(**ctx_kwargs):
    """Bonn programming 3: test accuracy with and without dropout and weight decay, over seeds (DataFrame)."""
    return _tables("bonn.p3", **ctx_kwargs)["summary"]


def bonn_p3_per_seed_table(**ctx_kwargs):
    """Bonn programming 3: every run of the comparison, per seed, with and without dropout and weight decay."""
    return _tables("bonn.p3", **ctx_kwargs)["per_seed"]


def bonn_p3_accuracy_plot(**ctx_kwargs):
    """Bonn programming 3: both networks' accuracy curves, seed 0."""
    return report_figure("bonn.p3", "curves", **ctx_kwargs)


def bonn_p4_networks_table(**ctx_kwargs):
    """Bonn programming 4: the four CIFAR-10 networks' epochs, accuracies and test accuracy (DataFrame)."""
    return _tables("bonn.p4", **ctx_kwargs)["networks"]


def bonn_p4_confusion_table(**ctx_kwargs):
    """Bonn programming 4: the answer network's confusion matrix on the test images (DataFrame)."""
    return _tables("bonn.p4", **ctx_kwargs)["confusion"]


def bonn_p4_per_class_table(**ctx_kwargs):
    """Bonn programming 4: the test error per class and the class each is most often mistaken for."""
    return _tables("bonn.p4", **ctx_kwargs)["per_class"]


def bonn_p4_accuracy_plot(**ctx_kwargs):
    """Bonn programming 4: the CIFAR-10 networks' training-sample and validation accuracy against steps."""
    return report_figure("bonn.p4", "acc", **ctx_kwargs)


def bonn_p4_confusion_plot(**ctx_kwargs):
    """Bonn programming 4: the answer network's confusion matrix on the CIFAR-10 test images."""
    return report_figure("bonn.p4", "confusion", **ctx_kwargs)


def bonn_p4_loss_plot(**ctx_kwargs):
    """Bonn programming 4: the CIFAR-10 networks' training-sample and validation loss against steps."""
    return report_figure("bonn.p4", "loss", **ctx_kwargs)


def theory_checks(qid: str, **ctx_kwargs):
    """The numerical checks behind a derivation (huji.t1-t4, tuebingen.2-3, eth.1-3, bonn.t1-t2)."""
    return _tables(qid, **ctx_kwargs)


# ----------------------------------------------------------------- the CLI


def build_parser() -> argparse.ArgumentParser:
    from ex1 import __version__
    from ex1.machine import PRECISIONS
    from ex1.runner import PROFILES

    p = argparse.ArgumentParser(
        prog="ex1", description="Train, answer and report the CNN assignment questions "
                                "(also run as: python Ex1_main.py ...).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Data: --data-dir DIR (or EX1_DATA_DIR) holding mnist.npz / cifar10.npz in keras "
               "load_data() layout; else Keras's own download cache (~/.keras/datasets); else TensorFlow "
               "Datasets downloads them.\n\nThe TA's tools: ex1 diff A B (what differs between two results folders, "
               "judged against its noise) and ex1 verify HANDIN.zip (whether a hand-in is what the code computes); "
               "see ex1 diff --help and ex1 verify --help.")
    p.add_argument("--version", action="version", version=f"ex1 {__version__}")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--all", action="store_true", help="answer every question (a bare ex1 only lists them)")
    what.add_argument("--only", nargs="+", metavar="ID",
                      help="question ids or sheet prefixes, e.g. huji.1 huji.3.2; the report is then marked partial")
    what.add_argument("--list", action="store_true",
                      help="print the question ids with titles, whether each is stored, and its estimated minutes")
    what.add_argument("--where", nargs="+", metavar="ID",
                      help="where each question lives, as file:line: the code that computes it, its models, report "
                           "section, template, stored tables, tests and Ex1_main functions (trains nothing)")
    p.add_argument("--profile", default="full", choices=list(PROFILES),
                   help="full (the sheets' step counts; default) or quick (minutes; not results)")
    p.add_argument("--data-dir", help="directory holding mnist.npz / cifar10.npz (else $EX1_DATA_DIR, then "
                                      "Keras's cache, then TFDS)")
    p.add_argument("--out", default=DEFAULT_OUT, help="output directory for the store and the PDF (default: out)")
    p.add_argument("--rerun", action="store_true", help="recompute the selected questions and their training runs")
    p.add_argument("--precision", default="auto", choices=["auto", *PRECISIONS],
                   help="auto: mixed bfloat16 on a CPU with native bfloat16 or a GPU of compute capability 8.0+, "
                        "mixed float16 on a 7.x GPU, float32 elsewhere")
    p.add_argument("--names", help='student names for the cover and the hand-in, e.g. "Yann LeCun, Alex Krizhevsky"')
    p.add_argument("--zip", action="store_true",
                   help="also write Ex1_<names>.zip: the code, templates, pyproject.toml, README and the PDF")
    p.add_argument("--html", action="store_true", help="also write the report as one self-contained HTML file")
    p.add_argument("--no-pdf", action="store_true", help="skip the PDF (with --html: where WeasyPrint cannot run)")
    p.add_argument("--tensorboard", metavar="DIR",
                   help="also write every run's losses and accuracies as TensorBoard logs to DIR "
                        "(then: tensorboard --logdir DIR; pip install tensorboard)")
    p.add_argument("--quiet", action="store_true",
                   help="print only errors and the files written (no progress lines)")
    p.add_argument("--verbose", action="store_true",
                   help="show TensorFlow's own log lines on the terminal (else they go to OUT/ex1.log)")
    return p


def _check_out_dir(out: Path) -> None:
    from ex1.fsutil import temp_path

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file: name a directory for the results store and the report "
                         "(it is created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = temp_path(out, "write-test")   # a temporary's name: a killed process's probe is cleaned up
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"output directory {out} is not writable ({e.strerror or e}); choose another with --out DIR")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _precision_note(requested: str, ctx) -> str | None:
    """One line when 'auto' follows the results folder rather than this machine (chosen_precision)."""
    from ex1.machine import resolve_precision

    mine = resolve_precision(requested)
    if requested != "auto" or ctx.precision == mine:
        return None
    return (f"precision: {ctx.precision}, the one the stored answers were computed in (this machine's own choice, "
            f"{mine}, would compute every answer again: --precision {mine})")


def _list(args) -> None:
    """Each id with its title, whether its answer is stored, and its estimated minutes on this machine. Needs no
    data for the stored column (and never downloads any); minutes need the data of the questions not stored."""
    import textwrap

    import experiments
    from experiments import plan
    from ex1.data import DataError

    questions = list(experiments.QUESTIONS.values())
    ctx = make_context(args.profile, args.data_dir, args.out, precision=args.precision, log=lambda s: None)
    stored = {q.id: experiments.find_stored(q, ctx, read=False) is not None for q in questions}
    needed = dict.fromkeys(d for q in questions if not stored[q.id] for d in q.datasets)
    problems = {d: p for d in needed if (p := ctx.local_data_problem(d))}
    estimates, progress = {}, None
    try:
        progress = plan.Progress([], plan.remembered_rate(ctx) or plan.guessed_rate(ctx.precision),
                                 plan.remembered_rate(ctx, plan.PER_STEP), plan.remembered_evidence(ctx))
        can = [q for q in questions if not set(q.datasets) & set(problems)]
        estimates = {e.question: e for e in plan.estimate(can, ctx, time_networks=False)}
    except (DataError, ValueError) as e:
        problems["estimates"] = str(e)
    print(f"{'id':<12} {'stored':<7} {'minutes':>7}  title   ({args.profile} profile, {ctx.precision})")
    total, unknown = 0.0, 0
    for q in questions:
        e = estimates.get(q.id)
        seconds = progress.seconds(e) if e is not None and e.known else 0.0
        known = stored[q.id] or (e is not None and e.known)
        total += 0.0 if stored[q.id] else seconds
        unknown += not known
        # two decimals below 0.1 min: a question that trains must not read as 0.0 (= trains nothing)
        minutes = "—" if stored[q.id] else ("?" if not known else f"{seconds / 60:.{1 if seconds >= 6 else 2}f}")
        print(f"{q.id:<12} {'yes' if stored[q.id] else 'no':<7} {minutes:>7}  {q.title}")
    print(f"{'total':<12} {f'{sum(stored.values())}/{len(questions)}':<7} {total / 60:>7.1f}  minutes to answer every "
          f"question not stored{f' (and {unknown} not estimated: ?)' if unknown else ''}")
    if note := _precision_note(args.precision, ctx):
        print(note)
    for what, problem in problems.items():
        print(textwrap.fill(f"? {what}: {problem}", width=100, subsequent_indent="  ", break_long_words=False,
                            break_on_hyphens=False))


def _outputs(args, names: str | None) -> str:
    """The file stem: the students' names (or Ex1_report), then what makes the report not the hand-in."""
    stem = f"Ex1_{names}" if names else "Ex1_report"
    if args.profile != "full":
        stem += f"_{args.profile}"
    return stem + ("_partial" if args.only else "")


def _how(rec: dict) -> str:
    from ex1.runner import wall_share  # local, like the CLI's other imports: --help stays fast

    reused = [r for r in rec["runs"] if r["cache_hit"]]
    # The question's own time, and apart from it what its reused runs once cost: a sum of
    # the two would count a shared run in every question that uses it.
    if rec["cache_hit"]:
        runs_s = sum(wall_share(r) for r in rec["runs"])
        return "from the store" + (f" (its {_count(len(rec['runs']), 'training run')} took {runs_s:.1f} s)"
                                   if rec["runs"] else "")
    how = f"computed in {rec['wall_seconds']:.1f} s"
    if reused:
        how += (f", reusing {len(reused)} of {_count(len(rec['runs']), 'training run')} "
                f"({sum(wall_share(r) for r in reused):.1f} s when they were trained)")
    return how


def _bar(questions: int, args: argparse.Namespace):
    """A tqdm bar of the whole command on a terminal (not with --quiet, nor when stdout is a file or pipe, where
    the progress lines alone are kept): questions done, the time left and the clock time it expects to finish."""
    if args.quiet or not sys.stdout.isatty() or os.environ.get("TERM") == "dumb":
        return None
    from tqdm import tqdm

    return tqdm(total=questions, unit="question", file=sys.stdout, dynamic_ncols=True, leave=False,
                bar_format="{desc} {bar} {n_fmt}/{total_fmt} questions{postfix}")


def check_input(args: argparse.Namespace) -> list:
    """Everything on the command line that can be wrong, checked before TensorFlow is imported (a usage error
    answers at once): the questions selected (none for --list), or UsageError with the one-line reason."""
    import experiments

    try:
        selected = [] if args.list else experiments.select(args.where or args.only)
    except ValueError as e:
        raise UsageError(str(e)) from None
    names = safe_names(args.names) if args.names is not None else None
    if args.zip and not names:
        raise UsageError("--zip needs --names: the sheet names the archive after the students")
    if args.zip and (args.only or args.profile != "full"):
        raise UsageError("--zip makes the hand-in, which needs the full profile and every question: drop "
                         + ("--only" if args.only else "") + (" and " if args.only and args.profile != "full" else "")
                         + (f"--profile {args.profile}" if args.profile != "full" else ""))
    if args.zip and args.no_pdf:
        raise UsageError("--zip packs the PDF the sheet asks for: drop --no-pdf")
    if args.no_pdf and not args.html:
        raise UsageError("--no-pdf leaves nothing to write: add --html for the report as one HTML file")
    if args.data_dir and Path(args.data_dir).exists() and not Path(args.data_dir).is_dir():
        raise UsageError(f"--data-dir {args.data_dir} is a file, not a directory; pass the directory that holds "
                         "mnist.npz / cifar10.npz")
    if args.data_dir and not Path(args.data_dir).is_dir():
        raise UsageError(f"data directory {args.data_dir} does not exist; pass a directory holding "
                         "mnist.npz / cifar10.npz, or leave --data-dir out to use Keras's cache or TensorFlow Datasets")
    if args.where:
        return selected
    if not (args.all or args.only or args.list):
        raise UsageError("say what to answer: --all (every question) or --only ID ... (see the ids with --list)")
    if args.zip:
        from report.build import handin_missing

        missing = handin_missing(Path(__file__).resolve().parent)
        if missing:
            raise UsageError(f"--zip cannot find {', '.join(missing)} beside Ex1_main.py (an installed copy does "
                             "not carry them): run from a checkout of the project, or install it with pip install -e")
    if args.tensorboard and Path(args.tensorboard).exists() and not Path(args.tensorboard).is_dir():
        raise UsageError(f"--tensorboard {args.tensorboard} is a file: name a directory for the logs")
    if not args.list:
        _check_out_dir(Path(args.out))
    return selected


def run(args: argparse.Namespace) -> Path | None:
    import experiments
    from ex1.data import DataError
    from ex1.machine import resolve_precision

    selected = check_input(args)
    if args.where:
        from report.where import where

        for q in selected:
            print("\n".join(where(q.id, args.out, args.profile)))
        return None
    _divert_library_output(args)
    if args.list:
        _list(args)
        return None
    try:
        resolve_precision(args.precision)
    except ValueError as e:
        raise UsageError(str(e)) from None
    names = safe_names(args.names) if args.names is not None else None
    out = Path(args.out)

    from ex1.fsutil import clean_dead_temporaries
    from experiments import plan
    from ex1.fsutil import interrupt_guard, write_atomically
    from report.build import (PdfEngineMissing, build_zip, check_pdf_engine, render_html, write_figures, write_pdf,
                              write_tables)
    from report.evidence import MANIFEST_NAME, evidence_files, write_manifest

    if not args.no_pdf:
        try:
            check_pdf_engine()     # minutes or hours of training must not end in a missing library
        except PdfEngineMissing as e:
            raise UsageError(str(e)) from None
    say = (lambda line: None) if args.quiet else _log
    ctx = make_context(args.profile, args.data_dir, str(out), args.rerun, args.precision, log=say)
    ctx.tensorboard = args.tensorboard
    if note := _precision_note(args.precision, ctx):
        say(note)
    ctx.store.check()
    # Debris of killed runs (store entries, checkpoints, the PDF's and tables' temporaries); what a
    # live process is writing stays.
    ctx.store.clean_temporaries()
    clean_dead_temporaries(out, recursive=False)
    clean_dead_temporaries(out / "tables")
    t0 = time.perf_counter()
    answers = []
    try:
        # Data problems now, not after hours of training; answers already stored are read without the data.
        todo = [q for q in selected if ctx.rerun or ctx.tensorboard or experiments.find_stored(q, ctx, read=False) is None]
        try:
            experiments.preflight(todo, ctx)
        except DataError as e:
            ids = ", ".join(q.id for q in todo[:4]) + (", ..." if len(todo) > 4 else "")
            raise DataError(f"{e} (needed to compute {ids}: answers already stored are read without the data)") \
                from None
        stale = experiments.out_of_date(selected, ctx)
        if stale:
            say(stale)
        estimates = plan.estimate(selected, ctx)
        progress = plan.Progress(estimates, plan.remembered_rate(ctx) or plan.guessed_rate(ctx.precision)
                                 if any(e.gflop for e in estimates) else 1.0, plan.remembered_rate(ctx, plan.PER_STEP),
                                 plan.remembered_evidence(ctx))
        bar = _bar(len(selected), args)
        if bar is not None:   # lines go above the bar, which stays at the bottom of the terminal
            ctx.log = say = bar.write
        for q, est in zip(selected, estimates):
            ctx.log(f"{progress.prefix(q.id)} {q.id}: {q.title}")
            if bar is not None:
                bar.set_description_str(q.id)
                bar.set_postfix_str(progress.remaining(q.id) or "nothing left to train")
            answers.append(experiments.execute(q, ctx))
            rec = answers[-1].record
            if progress.finished(est, rec):   # kept at once: a killed command's successor estimates with it
                plan.remember_progress(ctx, progress)
            say(f"{q.id}: {_how(rec)}")
            if bar is not None:
                bar.update(1)
                bar.refresh()   # a question is seconds or hours apart from the next: always show it done
        if bar is not None:
            bar.close()
    except DataError as e:
        raise UsageError(str(e)) from None
    stem = _outputs(args, names)
    left_out = [q for q in experiments.QUESTIONS if q not in {s.id for s in selected}]
    render = dict(names=parse_names(args.names) if args.names else None, left_out=left_out,
                  run_seconds=time.perf_counter() - t0)
    reports = []
    with interrupt_guard():   # one rendering for the PDF, the HTML and the manifest of their numbers
        html = render_html(answers, ctx, **render)
        if not args.no_pdf:
            reports.append(write_pdf(html, out / f"{stem}.pdf"))
            print(f"report: {reports[-1]}")
        if args.html:
            reports.append(write_atomically(out / f"{stem}.html", lambda tmp: tmp.write_text(html, encoding="utf-8"),
                                            "the HTML report"))
            print(f"report (HTML): {reports[-1]}")
        manifest = write_manifest(answers, html, reports, out / f"{stem}.manifest.json")
    tables = write_tables(answers, out / "tables" / args.profile)
    print(f"tables: {tables}")
    print(f"figures: {write_figures(answers, out / 'figures' / args.profile)}")
    if args.zip:
        evidence = [(manifest, MANIFEST_NAME), *evidence_files(answers, ctx.store.root, tables)]
        z = build_zip(reports, Path(__file__).resolve().parent, out / f"{stem}.zip", evidence)
        print(f"hand-in archive: {z} ({z.stat().st_size / 2**20:.1f} MiB)")
    return reports[0]


# Where our own error lines go: the terminal's stderr, also after TensorFlow's C++ logging has been sent to the log.
_ERR = None


def _err():
    return _ERR or sys.stderr


def _divert_library_output(args: argparse.Namespace) -> None:
    """Send what libraries write below Python (TensorFlow's and absl's C++ logging: 'cuInit failed' on every CPU
    machine, oneDNN notices) and Python's own warnings to <out>/ex1.log, so the terminal shows only this
    command's lines; --verbose keeps them on the terminal. Only for a real command (main() called without
    arguments): a caller's own stderr is left alone."""
    if not getattr(args, "divert", False) or args.verbose:
        return
    out = Path(args.out)
    _divert_fd2(out / "ex1.log" if out.is_dir() else Path(os.devnull))


def _divert_fd2(log: Path) -> None:
    global _ERR
    sys.stderr.flush()
    terminal = os.dup(2)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(fd, f"== {time.strftime('%Y-%m-%d %H:%M:%S')} ex1 {' '.join(sys.argv[1:])}\n".encode())
    os.dup2(fd, 2)
    os.close(fd)
    _ERR = os.fdopen(terminal, "w", buffering=1)


TOOLS = ("diff", "verify")


def tools_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ex1", description="The TA's tools: compare two results folders, or check a "
                                                        "hand-in against the code.")
    sub = p.add_subparsers(dest="tool", required=True)
    d = sub.add_parser("diff", help="every reported number that differs between two results folders, judged "
                                    "against its noise; and why their runs differ")
    d.add_argument("a", help="a results folder (an --out folder, or an unpacked hand-in or its results/ folder)")
    d.add_argument("b", help="the other results folder")
    d.add_argument("--markdown", metavar="FILE", help="also write the comparison as Markdown tables to FILE")
    d.add_argument("--all-numbers", action="store_true", help="list numbers within noise too (default: counted)")
    v = sub.add_parser("verify", help="check a hand-in ZIP: its numbers against its records, its code against "
                                      "this package's, and one run retrained for its first steps")
    v.add_argument("handin", help="the hand-in archive, Ex1_<names>.zip")
    v.add_argument("--data-dir", help="directory holding mnist.npz / cifar10.npz, for the rerun (else "
                                      "$EX1_DATA_DIR or Keras's cache)")
    v.add_argument("--run", metavar="LABEL_OR_KEY", help="the run to retrain (default: the cheapest)")
    for tool in (d, v):
        tool.add_argument("--verbose", action="store_true", help="show TensorFlow's own log lines on the terminal")
    return p


def tools(argv: list[str], divert: bool = False) -> int:
    """ex1 diff A B / ex1 verify HANDIN.zip: one-line errors with exit 2, like the main command."""
    args = tools_parser().parse_args(argv)
    if divert and not args.verbose:   # TensorFlow's own lines (the rerun imports it) to a log, not the terminal
        try:
            _divert_fd2(_tools_log())
        except OSError:   # a log that cannot be written: TensorFlow's lines stay on the terminal
            pass
    try:
        if args.tool == "diff":
            from report.diff import DiffError, diff

            try:
                diff(args.a, args.b, markdown=args.markdown, every=args.all_numbers)
                return 0
            except DiffError as e:
                raise UsageError(str(e)) from None
        from report.verify import HandinError, verify

        try:
            return 0 if verify(Path(args.handin), data_dir=args.data_dir, run=args.run) else 1
        except HandinError as e:
            raise UsageError(str(e)) from None
    except UsageError as e:
        print(f"error: {e}", file=_err())
        return 2
    except Exception as e:  # noqa: BLE001 - one line here, the traceback in the log
        if _ERR is None:
            raise
        import traceback

        traceback.print_exc()
        print(f"error: {type(e).__name__}: {(str(e).splitlines() or [''])[0][:300]} (the traceback is in "
              f"{_tools_log()})", file=_err())
        return 1


def _tools_log() -> Path:
    """This user's log of the TA tools' library output (a name of their own on a shared machine)."""
    import tempfile

    return Path(tempfile.gettempdir()) / f"ex1-tools-{os.getuid() if hasattr(os, 'getuid') else 'user'}.log"


def main(argv: list[str] | None = None) -> int:
    divert = argv is None   # a real command (the console script or python Ex1_main.py), not a caller in Python
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in TOOLS:
        return tools(argv, divert)
    parser = build_parser()
    if not argv:   # a bare `ex1`: what it does and what is stored; nothing trains
        parser.print_help()
        print()
        argv = ["--list"]
    args = parser.parse_args(argv)
    args.divert = divert
    from ex1.fsutil import WriteError

    try:
        run(args)
    except UsageError as e:
        print(f"error: {e}", file=_err())
        return 2
    except WriteError as e:
        print(f"error: {e}", file=_err())
        return 1
    except KeyboardInterrupt:
        print("interrupted: finished results and the last evaluation checkpoint are kept; "
              "run the same command again to resume", file=_err())
        return 130
    except Exception as e:  # noqa: BLE001 - one line here, the traceback in the log
        if _ERR is None:
            raise
        import traceback

        traceback.print_exc()   # to the log (fd 2)
        print(f"error: {type(e).__name__}: {(str(e).splitlines() or [''])[0][:300]} (the traceback is in "
              f"{Path(args.out) / 'ex1.log'})", file=_err())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
