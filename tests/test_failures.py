"""Every failure is one line that says what is wrong and what to do, a non-zero exit, and no partial file."""

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import Ex1_main
from ex1 import data, fsutil
from tests.conftest import write_npz

THEORY = ["--only", "huji.1.1", "--profile", "quick"]   # renders a PDF without training anything


def run_cli(args, capsys):
    code = Ex1_main.main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def partial_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if ".tmp" in p.name]


@pytest.fixture(autouse=True)
def _fresh_data_cache(monkeypatch):
    monkeypatch.setattr(data, "_CACHE", {})


@pytest.mark.parametrize("blocker", ["store", "store/checkpoints"])
def test_a_file_where_the_store_keeps_a_folder(tmp_path, capsys, blocker):
    out = tmp_path / "o"
    (out / blocker).parent.mkdir(parents=True, exist_ok=True)
    (out / blocker).write_text("")
    code, _, err = run_cli(THEORY + ["--out", str(out)], capsys)
    line = one_line(err)
    assert code == 1 and f"{blocker} is a file" in line and "--out" in line
    assert not list(out.glob("*.pdf"))


def test_a_tables_folder_that_cannot_be_written_after_the_pdf(tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "tables").write_text("")           # a file where the tables folder belongs
    code, _, err = run_cli(THEORY + ["--out", str(out)], capsys)
    line = one_line(err)
    assert code == 1 and "could not write the tables" in line and "--out" in line
    assert not partial_files(out)


def test_a_tables_folder_without_write_permission(tmp_path, capsys, monkeypatch):
    # chmod cannot stop root (CI runs as root): the refusal a user without permission gets is raised instead.
    out = tmp_path / "o"
    real = Path.mkdir

    def refused(self, *a, **k):
        if str(self).startswith(str(out / "tables")):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", refused)
    code, _, err = run_cli(THEORY + ["--out", str(out)], capsys)
    line = one_line(err)
    assert code == 1 and "could not write the tables" in line and "Permission denied" in line
    assert "writable or choose another --out" in line
    assert (out / "Ex1_report_quick_partial.pdf").is_file() and not partial_files(out)


def test_a_full_disk_while_writing_the_pdf(tmp_path, capsys, monkeypatch):
    import weasyprint

    real = weasyprint.HTML.write_pdf

    def full(self, target=None, **kw):
        if target is None:                   # the start-up check of the engine renders to memory
            return real(self, **kw)
        Path(target).write_bytes(b"%PDF-1.7 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(weasyprint.HTML, "write_pdf", full)
    out = tmp_path / "o"
    code, _, err = run_cli(THEORY + ["--out", str(out)], capsys)
    line = one_line(err)
    assert code == 1 and "could not write the report" in line and "the disk is full" in line
    assert "Free disk space" in line
    assert not list(out.glob("*.pdf")) and not partial_files(out)


def test_a_full_disk_while_writing_a_table(tmp_path, capsys, monkeypatch):
    real = pd.DataFrame.to_csv
    out = tmp_path / "o"

    def full(self, path=None, *a, **k):
        if path is not None and str(out / "tables") in str(path):
            Path(path).write_text("layer,par")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, path, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    code, _, err = run_cli(THEORY + ["--out", str(out)], capsys)
    line = one_line(err)
    assert code == 1 and "could not write a table" in line and "the disk is full" in line
    assert not partial_files(out)


def test_temporaries_of_killed_processes_are_cleaned_and_live_ones_kept(tmp_path, capsys):
    out = tmp_path / "o"
    folder = out / "store" / "questions" / "huji.1.1"
    folder.mkdir(parents=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = fsutil._HOST
    debris = [folder / f".0123456789ab.{host}.{gone.pid}.00000000.tmp",
              out / f".Ex1_report_quick.pdf.{host}.{gone.pid}.00000000.tmp",
              out / f".checkpoint.npz.{host}.{gone.pid}.00000000.tmp",
              out / f".write-test.{host}.{gone.pid}.00000000.tmp"]    # the output folder's write probe
    debris[0].mkdir()
    for p in debris[1:]:
        p.write_bytes(b"partial")
    live = [out / f".Ex1_report_quick.pdf.{host}.{os.getpid()}.00000000.tmp",
            out / f".write-test.{host}.{os.getpid()}.00000001.tmp"]
    for p in live:
        p.write_bytes(b"being written")
    code, _, err = run_cli(THEORY + ["--out", str(out)], capsys)
    assert code == 0, err
    assert not any(p.exists() for p in debris) and all(p.exists() for p in live)
    # The probe a command writes is a temporary's name, which the next command's clean-up knows.
    assert fsutil._TEMP.match(fsutil.temp_path(out, "write-test").name)


def test_too_small_a_dataset_is_named_before_anything_trains(tmp_path, capsys):
    tiny = tmp_path / "tiny"
    write_npz(tiny, "mnist", 100, 100)          # 10 images of each digit
    code, out, err = run_cli(["--only", "huji.3.1", "huji.4", "bonn.p1", "--profile", "quick", "--data-dir",
                              str(tiny), "--out", str(tmp_path / "o")], capsys)
    line = one_line(err)
    assert code == 2 and "huji.4 draws 25 training images of every digit" in line and "only 10" in line
    assert "huji.3.1 holds out 1,000 training images drawn at random to choose the network" in line
    assert "bonn.p1 holds out 1,000 training images drawn at random" in line and "only 100" in line
    assert "training" not in out


@pytest.mark.parametrize("problem", ["folder", "broken link", "missing"])
def test_a_named_data_directory_is_not_passed_over_for_tfds(tmp_path, capsys, monkeypatch, problem):
    def no_tfds(spec):
        raise AssertionError("TFDS must not be tried when a data directory is named")

    monkeypatch.setattr(data, "_load_tfds", no_tfds)
    d = tmp_path / "d"
    d.mkdir()
    if problem == "folder":
        (d / "mnist.npz").mkdir()
    elif problem == "broken link":
        (d / "mnist.npz").symlink_to(tmp_path / "nowhere.npz")
    t = time.monotonic()
    code, _, err = run_cli(["--only", "huji.1.2", "--profile", "quick", "--data-dir", str(d),
                            "--out", str(tmp_path / "o")], capsys)
    line = one_line(err)
    assert code == 2 and str(d) in line and time.monotonic() - t < 30
    assert {"folder": "is a folder, not a file", "broken link": "is a broken link",
            "missing": "holds no mnist.npz"}[problem] in line


def test_a_missing_cifar10_is_found_before_the_first_question_trains(tmp_path, capsys):
    only_mnist = tmp_path / "m"
    write_npz(only_mnist, "mnist", 3000, 100)
    code, out, err = run_cli(["--only", "huji.1.2", "bonn.p4", "--profile", "quick", "--data-dir", str(only_mnist),
                              "--out", str(tmp_path / "o")], capsys)
    line = one_line(err)
    assert code == 2 and "could not load cifar10" in line and "holds no cifar10.npz" in line
    assert "training" not in out


def test_ctrl_c_while_the_pdf_renders_exits_130_even_when_a_library_swallows_it(tmp_path, capsys, monkeypatch):
    import weasyprint

    real = weasyprint.HTML.write_pdf

    def swallowing(self, target=None, **kw):
        if target is None:                   # the start-up check of the engine renders to memory
            return real(self, **kw)
        try:                           # what a C callback does with an exception raised inside it
            signal.raise_signal(signal.SIGINT)   # to this, the main, thread
            time.sleep(0.5)
        except BaseException:
            pass
        return real(self, target, **kw)

    monkeypatch.setattr(weasyprint.HTML, "write_pdf", swallowing)
    out = tmp_path / "o"
    # Ctrl-C reaches a program run from a terminal; a shell starts background jobs (a CI script run with &) with
    # SIGINT ignored, where the guard rightly leaves it alone: this test is about the terminal.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code, _, err = run_cli(THEORY + ["--out", str(out)], capsys)
        assert code == 130 and "interrupted" in one_line(err)
        assert not list(out.glob("*.pdf")) and not partial_files(out)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_the_hand_in_zip_takes_the_projects_own_files_only(tmp_path):
    import shutil
    import zipfile

    from report.build import build_zip

    root = Path(__file__).resolve().parents[1]
    copy = tmp_path / "project"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns(".git", ".venv", "out", "__pycache__"))
    (copy / "myenv" / "lib").mkdir(parents=True)           # a virtualenv under another name
    (copy / "myenv" / "lib" / "site.py").write_text("")
    (copy / "scratch.py").write_text("")
    pdf = tmp_path / "Ex1_A_B.pdf"
    pdf.write_bytes(b"%PDF")
    names = zipfile.ZipFile(build_zip(pdf, copy, tmp_path / "Ex1_A_B.zip")).namelist()
    assert "Ex1_main.py" in names and "ex1/train.py" in names and "pyproject.toml" in names
    assert "report/templates/report.html.j2" in names and "README.md" in names and pdf.name in names
    assert not any(n.startswith(("myenv/", "docs/")) or n == "scratch.py" for n in names)


def test_a_named_pipe_as_a_data_file_is_refused_at_once(tmp_path):
    # It hung for ever in the loader's zip reader. A subprocess: a hang here must fail the test, not stop it.
    d = tmp_path / "d"
    d.mkdir()
    os.mkfifo(d / "mnist.npz")
    p = subprocess.run([sys.executable, str(Path(Ex1_main.__file__)), "--only", "huji.1.2", "--profile", "quick",
                        "--data-dir", str(d), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120)
    ours = [line for line in p.stderr.splitlines() if "mnist.npz" in line]
    assert p.returncode == 2 and len(ours) == 1, p.stderr
    assert "is a named pipe, not a data file" in ours[0] and "Traceback" not in p.stderr
    assert not (tmp_path / "o" / "store" / "questions").exists() or not any((tmp_path / "o" / "store" / "questions").iterdir())


def test_a_data_dir_that_names_a_file_says_so(tmp_path, capsys):
    f = tmp_path / "mnist.npz"
    f.write_bytes(b"")
    code, _, err = run_cli(["--only", "huji.1.2", "--profile", "quick", "--data-dir", str(f), "--out",
                            str(tmp_path / "o")], capsys)
    line = one_line(err)
    assert code == 2 and "is a file, not a directory" in line and "does not exist" not in line
    data._CACHE.clear()
    with pytest.raises(data.DataError, match="that is a file, not a directory: name the folder that holds mnist.npz"):
        data.load("mnist", f, use_tfds=False)
