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
    assert [l.split()[0] for l in lines[1:]] == list(experiments.QUESTIONS)
    assert "huji.1.1" in out and "Free parameters" in out


def test_selection_by_prefix_and_id():
    assert [q.id for q in experiments.select(["huji.1"])] == ["huji.1.1", "huji.1.2"]
    assert [q.id for q in experiments.select(["huji.1.2"])] == ["huji.1.2"]
    assert [q.id for q in experiments.select(["huji"])][:2] == ["huji.1.1", "huji.1.2"]


def test_unknown_id_fails_listing_the_valid_ones(capsys, tmp_path):
    code, _, err = run_cli(["--only", "huji.9", "--out", str(tmp_path)], capsys)
    assert code == 2 and "unknown question id(s): huji.9" in err
    assert all(q in err for q in experiments.QUESTIONS)
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("args, message", [
    (["--data-dir", "/no/such/dir"], "data directory /no/such/dir does not exist"),
    (["--names", "Robert'); DROP TABLE/.."], "cannot make a safe file name"),
    (["--names", "A B, C D, E F"], "one or two names"),
    (["--zip"], "--zip needs --names"),
    (["--no-pdf"], "--no-pdf leaves nothing to write"),
])
def test_bad_input_is_one_line_with_exit_code_2(capsys, tmp_path, args, message):
    code, out, err = run_cli(args + ["--out", str(tmp_path / "o")], capsys)
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


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
    code, _, err = run_cli(["--out", str(blocker / "sub")], capsys)
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
