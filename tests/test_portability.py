"""Where students run it: a missing PDF engine found first, HTML, Unicode names, partial reports,
notebook use, the precision on other machines, Keras's dataset cache, and retraining only for maths."""

import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import Ex1_main
import experiments
from ex1 import data, machine
from tests import grader
from tests.conftest import synthetic_images, write_npz

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
THEORY = ["--only", "huji.1.1", "--profile", "quick"]


def run_cli(args, capsys):
    code = Ex1_main.main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_missing_pdf_engine_is_one_line_before_training_naming_each_os_and_html(tmp_path, capsys, monkeypatch):
    import weasyprint

    def no_pango(self, *a, **k):
        raise OSError("cannot load library 'libpango-1.0-0': libpango-1.0-0: cannot open shared object file")

    monkeypatch.setattr(weasyprint.HTML, "write_pdf", no_pango)
    code, out, err = run_cli(["--only", "huji.1.2", "--profile", "quick", "--out", str(tmp_path / "o")], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "cannot open shared object file" in lines[0]
    for word in ("Debian/Ubuntu", "Fedora", "macOS", "Windows", "--html"):
        assert word in lines[0]
    assert "training" not in out
    # With --html --no-pdf the same machine still gets the report.
    code, out, err = run_cli(THEORY + ["--html", "--no-pdf", "--out", str(tmp_path / "h")], capsys)
    assert code == 0, err
    assert (tmp_path / "h" / "Ex1_report_quick_partial.html").is_file() and not list((tmp_path / "h").glob("*.pdf"))


@pytest.mark.parametrize("names, message", [
    ("Ada/Lovelace", "cannot make a safe file name"),
    ("Ada\x07Lovelace", "cannot make a safe file name"),
    ("Ada Lovelace, ", "cannot make a safe file name"),
    (" , ", "--names is empty"),
])
def test_names_that_cannot_be_names_are_refused_in_one_line(tmp_path, capsys, names, message):
    code, _, err = run_cli(THEORY + ["--names", names, "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_names_in_any_script_go_on_the_cover_as_given_and_into_ascii_file_names(tmp_path, capsys):
    assert Ex1_main.safe_names("Jürgen Schmidhuber, יעל כהן") == "JurgenSchmidhuber_YlKhhn"
    assert Ex1_main.safe_names("Łukasz Kaiser") == "LukaszKaiser"
    out = tmp_path / "o"
    code, _, err = run_cli(THEORY + ["--names", "Jürgen Schmidhuber, יעל כהן", "--html", "--out", str(out)], capsys)
    assert code == 0, err
    html = (out / "Ex1_JurgenSchmidhuber_YlKhhn_quick_partial.html").read_text(encoding="utf-8")
    assert "Jürgen Schmidhuber · יעל כהן" in html
    assert (out / "Ex1_JurgenSchmidhuber_YlKhhn_quick_partial.pdf").is_file()


def test_without_names_the_report_says_nothing_about_names(tmp_path, capsys):
    # A hand-in carries no instruction to whoever builds it: without --names the cover simply has none.
    out = tmp_path / "o"
    assert run_cli(THEORY + ["--html", "--no-pdf", "--out", str(out)], capsys)[0] == 0
    html = (out / "Ex1_report_quick_partial.html").read_text()
    assert 'class="names' not in html and "names go here" not in html and "--names" not in html


def test_a_partial_run_is_named_and_marked_partial_and_never_zipped(tmp_path, capsys):
    from pypdf import PdfReader

    out = tmp_path / "o"
    code, printed, err = run_cli(THEORY + ["--out", str(out)], capsys)
    assert code == 0, err
    pdf = out / "Ex1_report_quick_partial.pdf"
    assert pdf.is_file() and not (out / "Ex1_report_quick.pdf").exists()
    text = " ".join(PdfReader(pdf).pages[0].extract_text().split())
    assert "PARTIAL REPORT" in text and "huji.1.2" in text and "bonn.p4" in text
    assert not grader.forbidden_text(text)   # the banner says what is missing, not how to build it
    for args in (THEORY, ["--all", "--profile", "quick"], ["--only", "huji.1.1"]):
        code, _, err = run_cli(args + ["--names", "Ada Lovelace", "--zip", "--out", str(out)], capsys)
        assert code == 2 and "--zip makes the hand-in" in err and len(err.strip().splitlines()) == 1


def test_the_hand_in_zip_unpacks_into_a_project_that_runs(tmp_path):
    from report.build import build_zip

    pdf = tmp_path / "Ex1_Ada.pdf"
    pdf.write_bytes(b"%PDF-1.7")
    archive = build_zip(pdf, ROOT, tmp_path / "Ex1_Ada.zip")
    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(archive).extractall(unpacked)
    r = subprocess.run([sys.executable, "Ex1_main.py", "--only", "huji.1.1", "--profile", "quick", "--out", "o"],
                       cwd=unpacked, capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (unpacked / "o" / "Ex1_report_quick_partial.pdf").stat().st_size > 10_000


def test_python_use_reads_the_store_and_names_the_command_when_an_answer_is_missing(tmp_path, data_dir):
    with pytest.raises(experiments.NotStored) as e:
        Ex1_main.q1_2_accuracy_table(profile="quick", data_dir=str(data_dir), out=str(tmp_path))
    assert "python Ex1_main.py --only huji.1.2 --profile quick" in str(e.value) and "compute=True" in str(e.value)
    assert not (tmp_path / "store" / "runs").exists()     # nothing was trained


def test_importing_and_drawing_leave_matplotlib_as_the_caller_set_it():
    code = """
import matplotlib
matplotlib.use("pdf")
matplotlib.rcParams["font.size"] = 13.0
before = (matplotlib.get_backend(), dict(matplotlib.rcParams))
import pandas as pd
import Ex1_main
from report import figures
h = pd.DataFrame({"step": [0, 50, 100], "train_accuracy": [.1, .5, .9], "heldout_accuracy": [.1, .5, .8]})
figures.to_svg(figures.accuracy_curves({"a": h}))
after = (matplotlib.get_backend(), dict(matplotlib.rcParams))
assert before == after, [k for k in before[1] if before[1][k] != after[1][k]]
print("unchanged")
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=ENV)
    assert r.returncode == 0 and "unchanged" in r.stdout, r.stderr


@pytest.mark.parametrize("cc, flags, expected", [
    ((8, 6), frozenset(), "mixed_bfloat16"),
    ((7, 5), frozenset(), "mixed_float16"),
    ((6, 1), frozenset(), "float32"),
    (None, frozenset(), "float32"),                          # macOS, Windows: no /proc/cpuinfo
    (None, frozenset({"avx2", "avx512_bf16"}), "mixed_bfloat16"),
    (None, frozenset({"avx2"}), "float32"),
])
def test_auto_precision_on_other_machines(monkeypatch, cc, flags, expected):
    monkeypatch.setattr(machine, "gpu_compute_capability", lambda: cc)
    monkeypatch.setattr(machine, "cpu_flags", lambda: flags)
    assert machine.resolve_precision("auto") == expected
    assert machine.auto_precision()[1]                      # with its reason, for the appendix


def test_mixed_float16_trains_deterministically_with_a_scaled_loss(tmp_path):
    from ex1 import models, train

    xtr, ytr = synthetic_images(400, (28, 28), 1)
    xte, yte = synthetic_images(100, (28, 28), 2)
    cfg = train.TrainConfig(steps=40, batch_size=20, learning_rate=3e-3, eval_every=20, train_eval_size=200,
                            seed=1, precision="mixed_float16")

    def build(dtype):
        return models.create_model("shallow_cnn", filters=4, kernel_size=5, pool=4, dtype=dtype)

    args = (data.to_float(xtr), ytr, data.to_float(xte), yte, cfg)
    a = train.train(build, *args, log=lambda s: None)
    b = train.train(build, *args, log=lambda s: None)
    assert np.isfinite(a.history["train_loss"]).all() and a.history["heldout_accuracy"].iloc[-1] > 0.3
    cols = ["train_loss", "heldout_accuracy"]
    assert a.history[cols].equals(b.history[cols])


def write_keras_cache(home: Path) -> None:
    d = home / "datasets"
    write_npz(d, "mnist", 200, 50)
    batches = d / "cifar-10-batches-py-target" / "cifar-10-batches-py"    # where Keras 3 extracts it
    batches.mkdir(parents=True)
    for name, n, seed in [*[(f"data_batch_{i}", 20, i) for i in range(1, 6)], ("test_batch", 30, 9)]:
        x, y = synthetic_images(n, (32, 32, 3), seed)
        doc = {b"data": x.transpose(0, 3, 1, 2).reshape(n, 3072), b"labels": y.tolist(), b"batch_label": b"x"}
        (batches / name).write_bytes(pickle.dumps(doc, protocol=2))


def test_keras_download_cache_is_a_source(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_CACHE", {})
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(data, "_load_tfds", lambda spec: pytest.fail("TFDS tried although Keras's cache holds it"))
    write_keras_cache(tmp_path / "keras")
    m = data.load("mnist")
    assert m.source.startswith("Keras's cache") and m.x_train.shape == (200, 28, 28)
    c = data.load("cifar10")
    assert c.x_train.shape == (100, 32, 32, 3) and c.y_test.shape == (30,) and c.source.startswith("Keras's cache")
    x, y = synthetic_images(30, (32, 32, 3), 9)
    assert np.array_equal(c.x_test, x) and np.array_equal(c.y_test, y)


def test_a_tampered_cifar_batch_cannot_run_code(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_CACHE", {})
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    write_keras_cache(tmp_path / "keras")
    evil = tmp_path / "keras" / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py" / "test_batch"
    evil.write_bytes(pickle.dumps({b"data": os.system}, protocol=2))
    with pytest.raises(data.DataError, match="is malformed .*not allowed"):
        data.load("cifar10")


def test_the_sources_tried_include_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_CACHE", {})
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    monkeypatch.setattr(data, "_online", lambda host, timeout=5.0: False)
    import tensorflow_datasets as tfds

    def unprepared(name, split, as_supervised, download):
        raise AssertionError(f"Dataset {name}: could not find data")

    monkeypatch.setattr(tfds, "load", unprepared)
    with pytest.raises(data.DataError) as e:
        data.load("cifar10")
    assert "Keras's cache: no cifar-10-batches-py in" in str(e.value)


def test_a_comment_retrains_nothing_and_an_expression_retrains_what_depends_on_it(tmp_path, data_dir):
    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", ".venv", "out", "__pycache__", "docs"))
    cmd = [sys.executable, "Ex1_main.py", "--only", "huji.1.2", "--profile", "quick", "--data-dir", str(data_dir),
           "--out", "o", "--no-pdf", "--html"]

    def run():
        r = subprocess.run(cmd, cwd=copy, capture_output=True, text=True, env=ENV, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "retracing" not in r.stderr
        return r.stdout

    assert "training huji_cnn" in run()
    engine = copy / "ex1" / "train.py"
    src = engine.read_text()
    engine.write_text(src.replace("# Many steps in one call", "# Many, many steps in one call") + "\n# a comment\n")
    again = run()
    assert "training huji_cnn" not in again and "huji.1.2: from the store" in again and "out of date" not in again
    assert "EVAL_BATCH = 2000" in src
    # An engine change is judged by the golden runs (tests/test_golden.py), not by its source: a new engine version
    # retrains every run that depends on it.
    golden = copy / "ex1" / "golden.py"
    version = golden.read_text()
    assert "\nENGINE_VERSION = 1\n" in version
    golden.write_text(version.replace("\nENGINE_VERSION = 1\n", "\nENGINE_VERSION = 2\n"))
    changed = run()
    assert ("stored answers out of date for 1 question (huji.1.2): the training engine's version changed"
            in changed), changed
    assert "1 stored training run will train again" in changed and "training huji_cnn" in changed
    # A builder is hashed by its source: an expression that moves a number retrains what goes through it.
    models = copy / "ex1" / "models.py"
    fc1 = 'activation=activation, name="fc1", dtype=dtype)(x)'
    models.write_text(models.read_text().replace(fc1, fc1 + " * 1.0"))
    rebuilt = run()
    assert "ex1/models.py:huji_cnn changed" in rebuilt and "training huji_cnn" in rebuilt


def test_auto_precision_follows_the_results_folder_it_reads(tmp_path):
    """A results folder computed in another precision is read in it (a TA's machine, a student's second one);
    an empty folder, one holding this machine's choice too, or an explicit precision use the machine's or the
    given one."""
    import json

    from Ex1_main import chosen_precision
    from ex1.machine import resolve_precision

    mine = resolve_precision("auto")
    other = "float32" if mine != "float32" else "mixed_bfloat16"

    def store(qid, precision, profile="full"):
        d = tmp_path / "store" / "questions" / qid / f"k{precision}{profile}"
        d.mkdir(parents=True)
        payload = {"question": qid, "precision": precision, "profile": {"name": profile}}
        (d / "record.json").write_text(json.dumps({"record": {"key_payload": payload}}))

    assert chosen_precision("auto", str(tmp_path)) == mine
    store("huji.1.2", other)
    store("huji.2", other)
    store("huji.3.1", mine, profile="quick")             # another profile's answers do not count
    assert chosen_precision("auto", str(tmp_path)) == other
    assert chosen_precision("auto", str(tmp_path), "quick") == mine
    assert chosen_precision(mine, str(tmp_path)) == mine  # asked for: kept
    store("huji.1.1", mine)
    assert chosen_precision("auto", str(tmp_path)) == mine
