"""The sample in docs/: the report, its tables and the stored answers it was rendered from.

    python -m report.sample OUT DOCS [--profile full] [--precision P]

copies, from a results folder OUT whose every answer is stored for the profile, the PDF, the tables and each
answer's store entry (tables and record, with the facts its sentences state; no training runs, weights or
checkpoints) to DOCS/Ex1_report.pdf, DOCS/tables/<profile>/ and DOCS/results/store/questions/. DOCS/results
is then a results folder: the report renders from it with no dataset and no training
(`ex1 --all --out docs/results`), and the notebook and the tests read the real numbers from it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from ex1.fsutil import write_atomically

from .evidence import RESULTS


def export(out: Path, docs: Path, profile: str = "full", only: list[str] | None = None,
           precision: str = "auto") -> list[Path]:
    """Copy OUT's report, tables and stored answers for `profile` (of every question, or of `only`) into DOCS;
    the files and folders written. `precision`: the one the answers were computed in (a sample computed in mixed
    bfloat16 is re-rendered on a CPU whose 'auto' is float32)."""
    import Ex1_main
    import experiments

    out, docs = Path(out), Path(docs)
    ctx = Ex1_main.make_context(profile, None, str(out), precision=precision)
    answers = [experiments.stored(q, ctx) for q in experiments.select(only)]   # NotStored names the command
    written = []
    stem = "Ex1_report" + ("" if profile == "full" else f"_{profile}")
    pdf = out / f"{stem}.pdf"
    if pdf.is_file():
        written.append(write_atomically(docs / pdf.name, lambda tmp: shutil.copyfile(pdf, tmp), "the sample report"))
    target = docs / RESULTS / "store" / "questions"
    if target.exists():
        shutil.rmtree(target)       # the previous sample's answers: only this one's stay
    from .evidence import entry_key

    for a in answers:
        src = ctx.store.root / "questions" / a.question.id / entry_key(a)
        dst = target / a.question.id / src.name
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("arrays.npz"))
        written.append(dst)
    tables = docs / "tables" / profile
    if tables.exists():
        shutil.rmtree(tables)
    from .build import write_tables

    written.append(write_tables(answers, tables))
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m report.sample", description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="the results folder of a run whose every answer is stored")
    p.add_argument("docs", help="the folder the sample goes to (docs)")
    p.add_argument("--profile", default="full")
    p.add_argument("--precision", default="auto", help="the precision the answers were computed in (default: auto)")
    args = p.parse_args(argv)
    import experiments

    try:
        written = export(Path(args.out), Path(args.docs), args.profile, precision=args.precision)
    except experiments.NotStored as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"sample: {len(written)} files and folders written under {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
