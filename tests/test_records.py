"""jaxpriv.records: a result file with its command, commit, date, machine, device and load."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from jaxpriv import records


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real git repository with one commit."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    (root / "code.py").write_text("x = 1\n")
    _git(root, "add", "code.py")
    _git(root, "commit", "-q", "-m", "first")
    return root


def test_record_holds_the_commit_of_a_clean_checkout(repo, tmp_path):
    out = tmp_path / "r.json"
    records.write_record(out, {"accuracy": 0.5}, command="python3 bench.py", repo=repo)
    rec = records.read_record(out)
    assert rec["commit"] == _git(repo, "rev-parse", "HEAD")
    assert len(rec["commit"]) == 40
    assert rec["dirty"] is False


def test_a_changed_tracked_file_makes_it_dirty(repo, tmp_path):
    (repo / "code.py").write_text("x = 2\n")
    rec = records.make_record({}, command="c", repo=repo)
    assert rec["commit"] == _git(repo, "rev-parse", "HEAD")
    assert rec["dirty"] is True


def test_untracked_files_do_not_make_it_dirty(repo):
    (repo / "runs").mkdir()
    (repo / "runs" / "out.json").write_text("{}")
    assert records.make_record({}, command="c", repo=repo)["dirty"] is False


def test_outside_git_the_commit_is_unknown(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    rec = records.make_record({}, command="c", repo=plain)
    assert rec["commit"] == "unknown"
    assert rec["dirty"] is None


def test_record_has_every_field_and_the_results(tmp_path, repo):
    out = tmp_path / "sub" / "r.json"
    results = {"accuracy": np.float32(0.75), "per_seed": np.array([1.0, 2.0]), "nan": np.nan}
    records.write_record(
        out, results, command=["python3", "b.py", "--out", "a b"], load_at_start=[1.5, 2, 3]
    )
    rec = json.loads(out.read_text())
    for field in records.REQUIRED:
        assert field in rec, field
    assert rec["format"] == records.FORMAT
    assert rec["command"] == "python3 b.py --out 'a b'"  # an argv list, quoted as a shell would
    assert rec["results"] == {"accuracy": 0.75, "per_seed": [1.0, 2.0], "nan": None}
    when = dt.datetime.fromisoformat(rec["date"].replace("Z", "+00:00"))
    assert when.tzinfo is not None and when.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.UTC) - when).total_seconds()) < 300
    assert rec["machine"]["cpu_count"] == os.cpu_count()
    assert rec["machine"]["arch"]
    import jax

    assert rec["device"]["platform"] == jax.default_backend()
    assert rec["device"]["count"] == len(jax.devices())
    assert rec["device"]["kinds"] == sorted({d.device_kind for d in jax.devices()})
    assert rec["versions"]["jax"] == jax.__version__
    assert rec["versions"]["jaxpriv"] != ""


def test_load_at_start_and_at_write_time(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (0.25, 0.5, 0.75))
    rec = records.make_record({}, command="c", load_at_start=[3.0, 2.0, 1.0])
    assert rec["load"] == {"start": [3.0, 2.0, 1.0], "end": [0.25, 0.5, 0.75]}
    assert records.make_record({}, command="c")["load"]["start"] is None


def test_load_is_none_where_the_os_has_none(monkeypatch):
    def no_load():
        raise OSError("no load average")

    monkeypatch.setattr(os, "getloadavg", no_load)
    assert records.load_average() is None
    assert records.make_record({}, command="c")["load"] == {"start": None, "end": None}


def test_cpu_model_from_proc_cpuinfo():
    if not Path("/proc/cpuinfo").exists():
        pytest.skip("no /proc/cpuinfo")
    text = Path("/proc/cpuinfo").read_text()
    model = records.cpu_model()
    if "model name" in text:
        assert model and model in text


def test_write_is_atomic_a_failed_write_keeps_the_old_record(tmp_path):
    out = tmp_path / "r.json"
    records.write_record(out, {"v": 1}, command="first")
    with pytest.raises(TypeError):
        records.write_record(out, {"v": object()}, command="second")  # not JSON-able
    assert records.read_record(out)["results"] == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left


def test_write_goes_through_a_temporary_file_and_a_rename(tmp_path, monkeypatch):
    out = tmp_path / "r.json"
    renamed = []
    real_replace = os.replace

    def spy(src, dst):
        renamed.append((Path(src).name, Path(dst)))
        assert not Path(dst).exists()  # the target appears only by the rename
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    records.write_record(out, {"v": 1}, command="c")
    assert len(renamed) == 1 and renamed[0][1] == out and renamed[0][0] != out.name


def test_command_and_results_are_checked():
    with pytest.raises(ValueError, match="command"):
        records.make_record({}, command="  ")
    with pytest.raises(TypeError, match="dict"):
        records.make_record([1, 2], command="c")


def test_read_record_names_missing_fields(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"command": "c", "results": {}}))
    with pytest.raises(ValueError, match=r"bad\.json.*missing.*commit"):
        records.read_record(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        records.read_record(bad)
