"""The command line: listing, selection and one-line errors for bad input."""

import pytest

import Ex1_main
import experiments


def run_cli(args, capsys):
    code = Ex1_main.main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_prints_every_id_with_its_title(capsys):
    code, out, _ = run_cli(["--list"], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    # the ids end at the total line; lines after it say which data is missing
    end = next((i for i, l in enumerate(lines) if l.startswith("total")), len(lines))
    body = lines[1:end]
    assert [l.split()[0] for l in body] == list(experiments.QUESTIONS)
    assert "huji.1.1" in out and "Free parameters" in out


def test_selection_by_prefix_and_id():
    assert [q.id for q in experiments.select(["huji.1"])] == ["huji.1.1", "huji.1.2"]
    assert [q.id for q in experiments.select(["huji.1.2"])] == ["huji.1.2"]
    assert [q.id for q in experiments.select(["huji"])][:2] == ["huji.1.1", "huji.1.2"]


def test_unknown_id_fails_with_the_nearest_ids(capsys, tmp_path):
    code, _, err = run_cli(["--only", "huji.31", "--out", str(tmp_path)], capsys)
    assert code == 2 and "unknown question id 'huji.31' (did you mean huji.3.1" in err and "ex1 --list" in err
    assert len(err.strip().splitlines()) == 1 and len(err) < 200
    assert not any(tmp_path.iterdir())  # nothing written


def test_ids_match_in_any_case():
    assert [q.id for q in experiments.select(["HUJI.1.1", "Bonn.P4"])] == ["huji.1.1", "bonn.p4"]


@pytest.mark.parametrize("args, message", [
    (["--data-dir", "/no/such/dir"], "data directory /no/such/dir does not exist"),
    (["--names", "Robert'); DROP TABLE/.."], "cannot make a safe file name"),
    (["--names", "A B, C D, E F"], "gives 3 names: the sheet's hand-in is for one or two students"),
    (["--names", ""], "--names is empty"),
    (["--names", " , "], "--names is empty"),
    (["--all"], None),   # a file where --out names a folder: its own reason (below)
    (["--zip"], "--zip needs --names"),
    (["--no-pdf"], "--no-pdf leaves nothing to write"),
    (["--names", "Ada Lovelace", "--zip", "--no-pdf", "--html"], "--zip packs the PDF the sheet asks for"),
])
def test_bad_input_is_one_line_with_exit_code_2(capsys, tmp_path, args, message):
    if message is None:
        (tmp_path / "o").write_text("a file")
        message = f"--out {tmp_path / 'o'} is a file: name a directory"
    code, out, err = run_cli(args + ["--all", "--out", str(tmp_path / "o")] if "--all" not in args
                             else args + ["--out", str(tmp_path / "o")], capsys)
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").is_dir()


def test_without_all_or_only_nothing_trains(capsys, tmp_path):
    code, _, err = run_cli(["--profile", "quick", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "say what to answer: --all" in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, message", [
    (["--profile", "huge"], "argument --profile: invalid choice: 'huge' (choose from"),
    (["--precision", "fp8"], "argument --precision: invalid choice: 'fp8' (choose from"),
])
def test_choices_are_checked_by_argparse(capsys, tmp_path, args, message):
    with pytest.raises(SystemExit) as e:
        Ex1_main.main(args + ["--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and err.startswith("usage: ex1")
    assert not (tmp_path / "o").exists()


def test_version_and_help_name_the_command(capsys):
    with pytest.raises(SystemExit):
        Ex1_main.main(["--version"])
    from ex1 import __version__

    assert capsys.readouterr().out.strip() == f"ex1 {__version__}"
    with pytest.raises(SystemExit):
        Ex1_main.main(["--help"])
    assert capsys.readouterr().out.startswith("usage: ex1 ")


def test_unwritable_output_directory(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run_cli(["--all", "--out", str(blocker / "sub")], capsys)
    assert code == 2 and "is not writable" in err and "--out" in err


def test_safe_names():
    assert Ex1_main.safe_names("Yann LeCun, Alex Krizhevsky") == "YannLeCun_AlexKrizhevsky"
    assert Ex1_main.safe_names("Ada Lovelace") == "AdaLovelace"


def test_malformed_data_file_is_one_line_and_writes_no_result(capsys, tmp_path):
    from tests.conftest import write_npz

    data = tmp_path / "data"
    path = write_npz(data, "mnist", 50, 10)
    path.write_bytes(path.read_bytes()[:200])
    code, _, err = run_cli(["--only", "huji.1.2", "--profile", "quick", "--data-dir", str(data),
                            "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "mnist.npz is malformed" in err and len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "o").rglob("*.csv")) and not list((tmp_path / "o").rglob("*.pdf"))


def _cli(*args, cwd=None, timeout=300, env=None):
    """The command as a user runs it: a process of its own, its real stdout and stderr (TensorFlow writes below
    Python, where capsys does not look)."""
    import subprocess
    import sys
    from pathlib import Path

    return subprocess.run([sys.executable, str(Path(Ex1_main.__file__)), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


def test_a_bare_command_prints_the_help_and_the_list_and_trains_nothing(tmp_path):
    p = _cli(cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("usage: ex1 ") and "--only ID" in p.stdout
    assert all(q in p.stdout for q in experiments.QUESTIONS)
    assert not (tmp_path / "out").exists() and "] training " not in p.stdout


def test_the_terminal_shows_only_our_lines_and_tensorflow_s_go_to_the_log(tmp_path, data_dir):
    out = tmp_path / "o"
    p = _cli("--only", "huji.1.1", "--profile", "quick", "--data-dir", str(data_dir), "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""   # no cuInit, oneDNN or absl line: those are in the log
    log = (out / "ex1.log").read_text()
    assert "ex1 --only huji.1.1" in log
    assert "huji.1.1" in p.stdout and "report:" in p.stdout
    bad = _cli("--only", "huji.1.2", "--profile", "quick", "--data-dir", str(tmp_path), "--out", str(out))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and bad.stderr.startswith("error: could not load")
    assert "(needed to compute huji.1.2: " in bad.stderr
    verbose = _cli("--only", "huji.1.1", "--profile", "quick", "--data-dir", str(data_dir), "--out", str(out),
                   "--verbose")
    assert verbose.returncode == 0 and verbose.stderr != ""   # TensorFlow's own lines, as asked


def test_tensorboard_logs_hold_every_run_s_history(tmp_path, data_dir, capsys):
    import numpy as np
    import tensorflow as tf

    logs = tmp_path / "tb"
    args = ["--only", "huji.1.2", "--profile", "quick", "--data-dir", str(data_dir), "--out", str(tmp_path / "o"),
            "--no-pdf", "--html"]
    assert Ex1_main.main(args) == 0
    capsys.readouterr()
    # Answers already stored are computed again from their stored runs, so every run is logged.
    assert Ex1_main.main(args + ["--tensorboard", str(logs)]) == 0
    out = capsys.readouterr().out
    assert "] training " not in out and "huji.1.2: computed" in out
    a = Ex1_main.answer("huji.1.2", profile="quick", data_dir=str(data_dir), out=str(tmp_path / "o"))
    history = a.result.tables["history"]
    folders = [p for p in (logs / "huji.1.2").iterdir() if p.is_dir()]
    assert len(folders) == 1 and folders[0].name.endswith("seed_0")
    scalars: dict[str, list] = {}
    for event in tf.compat.v1.train.summary_iterator(str(next(folders[0].glob("events.out.tfevents.*")))):
        for v in event.summary.value:
            scalars.setdefault(v.tag, []).append((event.step, float(tf.make_ndarray(v.tensor))))
    assert set(scalars) == {"loss/train", "loss/test", "accuracy/train", "accuracy/test", "learning_rate"}
    steps = [s for s, _ in scalars["accuracy/test"]]
    assert steps == sorted(steps) and steps[0] == 0 and len(steps) >= 3
    np.testing.assert_allclose([v for _, v in scalars["accuracy/test"]], history["heldout_accuracy"], rtol=1e-6)


def test_quiet_prints_only_the_files_written(tmp_path, data_dir, capsys):
    args = ["--only", "huji.1.1", "--profile", "quick", "--data-dir", str(data_dir), "--out", str(tmp_path / "o"),
            "--no-pdf", "--html", "--quiet"]
    assert Ex1_main.main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["report (HTML)", "tables", "figures"], lines


def test_the_progress_line_names_the_clock_time_when_a_question_takes_minutes():
    from experiments import plan

    p = plan.Progress([plan.Estimate("a", False, 1, 600.0)], 1.0, None)
    assert ", done about " in p.prefix("a") and "min left" in p.prefix("a")


def _without_data(tmp_path) -> dict:
    """An environment with no dataset anywhere: no EX1_DATA_DIR, an empty Keras cache."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("EX1_DATA_DIR", "KERAS_HOME")}
    return {**env, "HOME": str(tmp_path / "home"), "KERAS_HOME": str(tmp_path / "home" / ".keras")}


def test_stored_answers_are_listed_read_and_rendered_without_the_data(tmp_path, data_dir, monkeypatch):
    out = tmp_path / "o"
    args = ["--only", "huji.1.2", "--profile", "quick", "--out", str(out), "--no-pdf", "--html"]
    first = _cli(*args, "--data-dir", str(data_dir))
    assert first.returncode == 0, first.stderr
    html = (out / "Ex1_report_quick_partial.html").read_text()
    env = _without_data(tmp_path)
    listed = _cli("--list", "--profile", "quick", "--out", str(out), env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split()[1] for line in listed.stdout.splitlines()[1:] if line[:1].isalpha()}
    assert rows["huji.1.2"] == "yes" and rows["huji.2"] == "no" and rows["total"] == f"1/{len(experiments.QUESTIONS)}"
    reason = listed.stdout[listed.stdout.index("? mnist: "):]
    assert "could not load mnist" in reason and reason.rstrip().endswith(")."), reason   # whole, not cut
    (out / "Ex1_report_quick_partial.html").unlink()
    again = _cli(*args, env=env)
    assert again.returncode == 0 and again.stderr == "", again.stderr
    assert "huji.1.2: from the store" in again.stdout
    assert (out / "Ex1_report_quick_partial.html").read_text().count("HUJI network") == html.count("HUJI network")
    needs = _cli("--only", "huji.2", "--profile", "quick", "--out", str(out), env=env)
    assert needs.returncode == 2 and needs.stderr.count("\n") == 1, needs.stderr
    assert needs.stderr.startswith("error: could not load mnist") and "(needed to compute huji.2: " in needs.stderr
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("EX1_DATA_DIR", raising=False)
    a = Ex1_main.answer("huji.1.2", profile="quick", out=str(out))
    assert a.record["cache_hit"] and len(a.result.tables["history"]) >= 3


def test_a_terminal_gets_a_bar_with_the_time_left_and_a_file_gets_the_lines(tmp_path, data_dir):
    """In a pseudo-terminal (as a user's shell) a tqdm bar of the whole command sits under the progress lines."""
    import os
    import pty
    import shlex
    import sys
    from pathlib import Path

    cmd = [sys.executable, str(Path(Ex1_main.__file__)), "--only", "huji.1.1", "huji.t1", "--profile", "quick",
           "--data-dir", str(data_dir), "--out", str(tmp_path / "o"), "--no-pdf", "--html"]
    chunks = []

    def read(fd):
        data = os.read(fd, 4096)
        chunks.append(data)
        return data

    env = os.environ.get("TERM")
    os.environ["TERM"] = "xterm"
    try:
        status = pty.spawn(["bash", "-c", "stty cols 120 rows 30; exec " + shlex.join(cmd)], read)
    finally:
        if env is None:
            os.environ.pop("TERM")
        else:
            os.environ["TERM"] = env
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 0, screen
    assert "1/2 questions" in screen and "2/2 questions" in screen      # the bar, redrawn as questions finish
    assert "[1/2] huji.1.1: Free parameters" in screen                  # the lines stay above it
    piped = _cli(*cmd[2:])
    assert "questions" not in piped.stdout and "[1/2] huji.1.1" in piped.stdout   # a file gets the lines alone


def test_where_names_every_file_of_a_question_and_each_exists(tmp_path):
    """From a question id to its code, model, section, template, tables and tests: one command, no training."""
    import re
    from pathlib import Path

    root = Path(Ex1_main.__file__).resolve().parent
    p = _cli("--where", "huji.3.1", "BONN.P4", cwd=tmp_path)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    blocks = p.stdout.split("\nbonn.p4 ")
    assert blocks[0].startswith("huji.3.1 ") and len(blocks) == 2
    for block, module in zip(blocks, ("huji_depth", "bonn_practical")):
        places = re.findall(r"([\w/.]+\.py):(\d+)", block)
        assert f"experiments/{module}.py" in dict(places) and f"report/sections/{module}.py" in dict(places)
        for path, line in places:
            assert (root / path).is_file() and int(line) <= len((root / path).read_text().splitlines()), path
        assert f"tests/test_{module}.py" in block and (root / "tests" / f"test_{module}.py").is_file()
        template = re.search(r"template +(\S+)", block).group(1)
        assert (root / template).is_file()
    assert "ex1/models.py" in blocks[1] and "bonn_cnn" in blocks[1]
    assert not (tmp_path / "out").exists()
