"""The TA's tools: ex1 diff between two results folders, and ex1 verify of a hand-in (and its refusals)."""

import hashlib
import json
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import Ex1_main
import experiments
from ex1.store import Store, config_hash
from report import diff as diff_mod
from report.build import build_zip
from report.evidence import MANIFEST_NAME, evidence_files
from report.handin import HandinError, unpack
from report.verify import verify

ROOT = Path(Ex1_main.__file__).resolve().parent


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, str(ROOT / "Ex1_main.py"), *args], capture_output=True, text=True,
                          timeout=timeout)


# ---------------------------------------------------------------- diff


def _answer(root: Path, qid: str, table: pd.DataFrame, profile="quick", precision="float32", test_size=2000):
    """A stored answer as the registry writes one, with a table of the report's kind."""
    payload = {"question": qid, "profile": {"name": profile, "test_size": test_size, "train_eval_size": 1000},
               "config": {"steps": 100, "precision": precision}, "precision": precision, "data": {}, "code": "c"}
    record = {"question": qid, "key_payload": payload, "facts": {}, "runs": [], "wall_seconds": 1.0}
    Store(root / "store").save(f"questions/{qid}", config_hash(payload), {"final": table}, record)


def _final(acc: float, params: int = 3274634, loss: float = 0.2, seconds: float = 10.0) -> pd.DataFrame:
    return pd.DataFrame({"model": ["HUJI network"], "params": [params], "test_accuracy": [acc],
                         "test_loss": [loss], "train_seconds": [seconds]})


def test_diff_judges_each_number_against_its_noise_and_names_what_is_not_comparable(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _answer(a, "huji.1.2", _final(0.9900))
    _answer(b, "huji.1.2", _final(0.9890, seconds=12.0, loss=0.21), precision="mixed_bfloat16")  # 0.1 pt on 2,000
    _answer(a, "huji.2", _final(0.90))
    _answer(b, "huji.2", _final(0.95), precision="mixed_bfloat16")       # 5 points on 2,000 images
    _answer(a, "huji.4", _final(0.90))
    _answer(b, "huji.4", _final(0.90, params=1000), precision="mixed_bfloat16")   # a count: exact
    _answer(a, "huji.5.1", _final(0.90))
    _answer(b, "huji.5.1", _final(0.90), profile="full", test_size=None)
    _answer(a, "huji.3.1", _final(0.90))
    lines = []
    counts = diff_mod.diff(a, b, markdown=tmp_path / "d.md", say=lines.append)
    text = "\n".join(lines)
    assert "huji.1.2: 1 within noise, 1 not judged (and 1 timings)" in text
    assert "final.csv test_accuracy [HUJI network]: 0.95 vs 0.9 (Δ -0.05, noise ±0.02" not in text   # A is first
    assert "final.csv test_accuracy [HUJI network]: 0.9 vs 0.95 (Δ +0.05, noise ±0.0" in text and "beyond noise" in text
    assert "final.csv params [HUJI network]: 3.27463e+06 vs 1000" in text and "exact) beyond noise" in text
    assert "huji.5.1: not comparable (different protocol: the quick and full profiles)" in text
    assert "huji.3.1: only in A" in text
    assert counts["beyond noise"] == 2 and counts["within noise"] == 1 and counts["not comparable"] == 1
    md = (tmp_path / "d.md").read_text()
    assert "| huji.2 | final | HUJI network | test_accuracy | 0.9 | 0.95 | +0.05 |" in md


def test_diff_reads_a_folder_of_tables_alone(tmp_path):
    a = tmp_path / "a"
    _answer(a, "huji.1.1", pd.DataFrame({"layer": ["conv1"], "params": [832]}))
    (tmp_path / "docs" / "tables" / "full" / "huji.1.1").mkdir(parents=True)
    pd.DataFrame({"layer": ["conv1"], "params": [832]}).to_csv(
        tmp_path / "docs" / "tables" / "full" / "huji.1.1" / "final.csv", index=False)
    lines = []
    diff_mod.diff(a, tmp_path / "docs", say=lines.append)
    assert "huji.1.1: no reported number differs" in lines   # a theory answer: the profile changes nothing


def test_diff_from_the_command_line(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _answer(a, "huji.2", _final(0.90))
    _answer(b, "huji.2", _final(0.95))
    p = _cli("diff", str(a), str(b), "--markdown", str(tmp_path / "d.md"))
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert "summary: numbers that differ: 1 beyond noise" in p.stdout and (tmp_path / "d.md").is_file()
    bad = _cli("diff", str(a), str(tmp_path / "nowhere"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "is not a results folder" in bad.stderr


# ---------------------------------------------------------------- verify


@pytest.fixture(scope="module")
def handin(tmp_path_factory, data_dir):
    """A hand-in of HUJI 2 and Bonn T1 in the quick profile, made as --zip makes one (the HTML standing in for the
    PDF). Two sheets, whose ids sort otherwise than the report orders them: the order numbers figures and tables."""
    out = tmp_path_factory.mktemp("handin") / "o"
    args = ["--only", "huji.2", "bonn.t1", "--profile", "quick", "--data-dir", str(data_dir), "--out", str(out), "--no-pdf",
            "--html", "--quiet"]
    assert Ex1_main.main(args) == 0
    ctx = Ex1_main.make_context("quick", str(data_dir), str(out))
    answers = [experiments.stored(q, ctx) for q in experiments.select(["huji.2", "bonn.t1"])]
    stem = "Ex1_report_quick_partial"
    evidence = [(out / f"{stem}.manifest.json", MANIFEST_NAME),
                *evidence_files(answers, ctx.store.root, out / "tables" / "quick")]
    z = build_zip([out / f"{stem}.html"], ROOT, out / "handin.zip", evidence)
    names = zipfile.ZipFile(z).namelist()
    assert MANIFEST_NAME in names and not any(n.endswith(".npz") for n in names)   # records, not weights
    assert sum(n.startswith("results/store/runs/") and n.endswith("record.json") for n in names) == 3
    return z


def test_a_hand_in_made_by_the_code_verifies(handin, data_dir):
    lines = []
    assert verify(handin, data_dir=str(data_dir), say=lines.append), "\n".join(lines)
    text = "\n".join(lines)
    assert "Ex1_report_quick_partial.html: the file written with the manifest" in text
    assert "every one is the one its stored answer renders" in text and "prints, section by section" in text
    assert "code: the same as the installed package's" in text
    assert "softmax regression" in text and ": identical to the stored history" in text   # the cheapest run
    assert text.rstrip().endswith("verdict: nothing found wrong")


def _rewrite(src: Path, dst: Path, edit) -> Path:
    """A copy of the hand-in with edit(name, bytes) -> bytes applied to each entry."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, edit(info.filename, zin.read(info)))
    return dst


def test_an_edited_report_or_number_is_found(handin, data_dir, tmp_path):
    report = _rewrite(handin, tmp_path / "r.zip",
                      lambda n, b: b.replace(b"softmax", b"Softmax") if n.endswith(".html") else b)
    lines = []
    assert not verify(report, data_dir=str(data_dir), say=lines.append)
    assert any("CHANGED after it was written" in s for s in lines)

    def edit_table(name, data):   # a number changed, and the store's checksum of its table made to match
        return data.replace(b",0.", b",0.0") if "/questions/huji.2/" in name and name.endswith("final.csv") else data
    edited = _rewrite(handin, tmp_path / "n.zip", edit_table)
    with zipfile.ZipFile(edited) as z:
        rec_name = next(n for n in z.namelist() if "questions/huji.2/" in n and n.endswith("record.json"))
        table_name = rec_name.replace("record.json", "tables/final.csv")
        doc = json.loads(z.read(rec_name))
        doc["files"]["tables/final.csv"] = hashlib.sha256(z.read(table_name)).hexdigest()
    fixed = _rewrite(edited, tmp_path / "f.zip",
                     lambda n, b: json.dumps(doc).encode() if n == rec_name else b)
    lines = []
    assert not verify(fixed, data_dir=str(data_dir), say=lines.append)
    assert any("those of huji.2 are NOT what their stored answers render" in s for s in lines), lines

    # A number edited in the report itself, its checksum in the manifest made to match: the report no longer
    # prints what its answers render.
    with zipfile.ZipFile(handin) as z:
        html_name = next(n for n in z.namelist() if n.endswith(".html"))
        html = z.read(html_name).decode()
        manifest = json.loads(z.read(MANIFEST_NAME))
    number = next(n for n in manifest["questions"]["huji.2"]["numbers"] if "." in n)
    forged = html.replace(f">{number}", f">{number}1").encode()
    manifest["reports"][html_name] = hashlib.sha256(forged).hexdigest()
    both = _rewrite(handin, tmp_path / "b.zip", lambda n, b: forged if n == html_name else (
        json.dumps(manifest).encode() if n == MANIFEST_NAME else b))
    lines = []
    assert not verify(both, data_dir=str(data_dir), say=lines.append)
    assert any("the file written with the manifest; does NOT print what the answers of huji.2 render" in s
               for s in lines), lines


def _zip(path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for info, data in entries:
            z.writestr(info, data)
    return path


def _link(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize("kind, message", [
    ("not a zip", "is not a readable ZIP archive"),
    ("truncated", "is not a readable ZIP archive"),
    ("not a hand-in", "is not an ex1 hand-in"),
    ("climbs", "climbs out of its folder"),
    ("absolute", "absolute path"),
    ("link", "holds a link"),
    ("file and folder", "also a file"),
    ("record checksum", "does not match its checksums"),
])
def test_hostile_archives_are_refused_in_one_line_and_write_nothing_outside(handin, tmp_path, kind, message):
    outside = tmp_path / "escaped.txt"
    if kind == "not a zip":
        archive = tmp_path / "x.zip"
        archive.write_bytes(b"PK\x03\x04 this is not an archive" * 10)
    elif kind == "truncated":
        archive = tmp_path / "x.zip"
        archive.write_bytes(handin.read_bytes()[: handin.stat().st_size // 2])
    elif kind == "not a hand-in":
        archive = _zip(tmp_path / "x.zip", [("notes.txt", b"hello")])
    elif kind in ("climbs", "absolute", "file and folder", "link"):   # the hand-in with one hostile entry more
        archive = _rewrite(handin, tmp_path / "x.zip", lambda n, b: b)
        entry = {"climbs": ("results/../../escaped.txt", b"out"), "absolute": (str(outside), b"out"),
                 "file and folder": ("results/store/questions/huji.2", b"a file where a folder is"),
                 "link": (_link("results/evil"), str(outside))}[kind]
        with zipfile.ZipFile(archive, "a") as z:
            z.writestr(*entry)
    else:
        archive = _rewrite(handin, tmp_path / "x.zip", lambda n, b: b.replace(b'"wall_seconds": ', b'"wall_seconds": 1')
                           if n.endswith("record.json") and "/runs/" in n else b)
    p = _cli("verify", str(archive))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and message in p.stderr, p.stderr
    assert not outside.exists() and not (tmp_path.parent / "escaped.txt").exists()


def test_an_oversized_entry_is_refused_before_it_is_written(handin, tmp_path, monkeypatch):
    from report import handin as handin_mod

    monkeypatch.setattr(handin_mod, "MAX_ENTRY_BYTES", 1000)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(HandinError, match="more than 0 MiB|unpacks to"):
        unpack(handin, dest)
    assert not any(p.is_file() for p in dest.rglob("*"))
    shutil.rmtree(dest)


def test_the_sample_in_docs_renders_from_its_stored_answers_alone(tmp_path, data_dir, monkeypatch):
    """report.sample copies a run's answers beside its tables; the report then renders from them with no data."""
    from report import sample

    out, docs = tmp_path / "o", tmp_path / "docs"
    ids = ["huji.1.1", "huji.1.2"]   # 1.2 reads MNIST: its answer is found without it
    assert Ex1_main.main(["--only", *ids, "--profile", "quick", "--data-dir", str(data_dir), "--out", str(out),
                          "--no-pdf", "--html", "--quiet"]) == 0
    sample.export(out, docs, "quick", only=ids)
    assert not list((docs / "results").rglob("*.npz"))
    assert sorted(p.name for p in (docs / "tables" / "quick").iterdir()) == ids
    monkeypatch.delenv("EX1_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))
    assert Ex1_main.main(["--only", *ids, "--profile", "quick", "--out", str(docs / "results"), "--no-pdf", "--html",
                          "--quiet"]) == 0
    assert (docs / "results" / "Ex1_report_quick_partial.html").read_text().count('class="question"') == 2


def test_diff_reads_the_old_history_column_names_as_the_new_ones():
    # Answers from before 2026-12-03 name history columns test_*; later ones heldout_*. A TA diffing an old hand-in
    # against a new one must see the numbers compared, not "another shape".
    from report.diff import Answer, _same_names, compare

    old = pd.DataFrame({"step": [0, 50], "heldout_accuracy": [0.1, 0.9]}).rename(
        columns={"heldout_accuracy": "test_accuracy"})
    new = pd.DataFrame({"step": [0, 50], "heldout_accuracy": [0.1, 0.8]})
    a, b = _same_names(old, new)
    assert list(a.columns) == list(b.columns) == ["step", "heldout_accuracy"]
    genuine = pd.DataFrame({"model": ["m"], "test_accuracy": [0.9]})   # a real test-set column stays as it is
    assert list(_same_names(genuine, genuine.copy())[0].columns) == ["model", "test_accuracy"]

    diffs, skipped = compare("huji.1.2", Answer("huji.1.2", "full", {"history": old}),
                             Answer("huji.1.2", "full", {"history": new}))   # folders of tables alone
    assert not skipped and [d.column for d in diffs] == ["heldout_accuracy"]
