"""Safe zip extraction and MotionSense preparation from a local download."""

from __future__ import annotations

import os
import re
import shutil
import stat
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from jaxpriv.data import folders as folders_module
from jaxpriv.data.archive import DEFAULT_MAX_BYTES, extract_zip, prepare_motionsense
from jaxpriv.data.dataset import DataFormatError
from jaxpriv.data.motionsense import DATA_FOLDER, SUBJECTS_FILE, load_motionsense
from jaxpriv.data.simulator import SimConfig, simulate_motionsense

TINY = SimConfig(n_users=2, long_s=2, short_s=2, activities=("wlk", "sit"))


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny simulated MotionSense folder (data folder + subjects table)."""
    return simulate_motionsense(tmp_path_factory.mktemp("sim") / "motionsense", TINY)


def data_files(root: Path) -> dict[str, bytes]:
    """Files under ``root/A_DeviceMotion_data``, by path relative to ``root``."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted((root / DATA_FOLDER).rglob("*"))
        if p.is_file()
    }


def make_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names, on purpose
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return path


def motionsense_entries(
    root: Path, *, with_table: bool = False, macos_junk: bool = True
) -> list[tuple[str | zipfile.ZipInfo, bytes]]:
    """What the public A_DeviceMotion_data.zip holds: folder entries, CSVs, macOS junk."""
    entries: list[tuple[str | zipfile.ZipInfo, bytes]] = [(f"{DATA_FOLDER}/", b"")]
    folders = sorted({name.rsplit("/", 1)[0] for name in data_files(root)})
    entries += [(f"{folder}/", b"") for folder in folders]
    entries += list(data_files(root).items())
    if macos_junk:
        entries += [
            ("__MACOSX/", b""),
            (f"__MACOSX/{DATA_FOLDER}/._wlk_7", b"\0\5\x16\7"),
            (f"__MACOSX/{DATA_FOLDER}/wlk_7/._sub_1.csv", b"\0\5\x16\7"),
        ]
    if with_table:
        entries.append((SUBJECTS_FILE, (root / SUBJECTS_FILE).read_bytes()))
    return entries


def leftovers(parent: Path) -> list[str]:
    return sorted(os.listdir(parent))


# ---------------------------------------------------------------------------- extract_zip


def test_round_trip_is_byte_identical(source: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "A_DeviceMotion_data.zip", motionsense_entries(source))
    out = tmp_path / "dest" / "unpacked"
    assert extract_zip(archive, out) == out
    assert data_files(out) == data_files(source)
    assert sorted(os.listdir(out)) == [DATA_FOLDER]  # __MACOSX skipped
    assert leftovers(out.parent) == ["unpacked"]  # no temporary folder left


def unsafe_link(name: str, kind: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: external_attr carries st_mode
    info.external_attr = (kind | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../evil.csv", "'..'"),
        (f"{DATA_FOLDER}/../../evil.csv", "'..'"),
        ("..\\evil.csv", "'..'"),
        (f"{DATA_FOLDER}\\..\\..\\evil.csv", "'..'"),
        ("/ABSOLUTE/evil.csv", "absolute path"),
        ("\\evil.csv", "absolute path"),
        ("C:/evil.csv", "drive letter"),
        ("c:evil.csv", "drive letter"),
        (f"{DATA_FOLDER}/wlk_7/sub_1.csv:stream", "':'"),
        (unsafe_link(f"{DATA_FOLDER}/wlk_7/sub_9.csv", stat.S_IFLNK), "symbolic link"),
        (unsafe_link(f"{DATA_FOLDER}/escape", stat.S_IFLNK), "symbolic link"),
        (unsafe_link(f"{DATA_FOLDER}/pipe", stat.S_IFIFO), "special file"),
    ],
    ids=lambda v: v.filename if isinstance(v, zipfile.ZipInfo) else str(v),
)
def test_unsafe_member_rejected_with_nothing_left(
    source: Path, tmp_path: Path, member: str | zipfile.ZipInfo, reason: str
) -> None:
    if isinstance(member, str) and "ABSOLUTE" in member:
        member = member.replace("/ABSOLUTE", str(tmp_path))  # somewhere we can check
    name = member.filename if isinstance(member, zipfile.ZipInfo) else member
    # Good members first: a naive extractor would already have written them.
    entries = [*motionsense_entries(source), (member, b"/etc/passwd")]
    archive = make_zip(tmp_path / "bad.zip", entries)
    dest = tmp_path / "dest"
    dest.mkdir()
    pattern = re.escape(f"{archive}: member {name!r}") + ".*" + re.escape(reason)
    with pytest.raises(DataFormatError, match=pattern):
        extract_zip(archive, dest / "out")
    assert leftovers(dest) == []
    assert sorted(os.listdir(tmp_path)) == ["bad.zip", "dest"]  # nothing escaped either


def test_size_limit(tmp_path: Path) -> None:
    # 1 MB of zeros deflates to ~1 kB: the declared sizes are what count.
    archive = make_zip(tmp_path / "bomb.zip", [("a.bin", b"x" * 10), ("b.bin", bytes(1_000_000))])
    assert archive.stat().st_size < 10_000
    dest = tmp_path / "dest"
    with pytest.raises(DataFormatError, match=r"more than 500000 bytes.*'b\.bin'"):
        extract_zip(archive, dest / "out", max_bytes=500_000)
    assert not dest.exists()
    out = extract_zip(archive, dest / "out", max_bytes=1_000_010)  # exactly fits
    assert (out / "b.bin").stat().st_size == 1_000_000
    assert DEFAULT_MAX_BYTES == 2 * 1024**3


def test_member_lying_about_its_size_is_caught(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "liar.zip", [("ok.txt", b"fine"), ("big.bin", bytes(100_000))])
    raw = bytearray(archive.read_bytes())
    # Declare big.bin as 1000 bytes in the central directory (uncompressed size at +24).
    central = raw.index(b"PK\x01\x02", raw.index(b"PK\x01\x02") + 4)
    raw[central + 24 : central + 28] = (1000).to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    with zipfile.ZipFile(archive) as zf:
        assert zf.getinfo("big.bin").file_size == 1000  # the lie is in place
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(DataFormatError, match=re.escape(f"{archive}: member 'big.bin'")):
        extract_zip(archive, dest / "out", max_bytes=50_000)
    assert leftovers(dest) == []  # ok.txt had been written to the temporary folder


def test_interrupted_extraction_leaves_nothing(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = make_zip(tmp_path / "a.zip", motionsense_entries(source))
    real_open = zipfile.ZipFile.open
    calls = []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", interrupted)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(KeyboardInterrupt):
        extract_zip(archive, dest / "out")
    assert len(calls) == 4
    assert leftovers(dest) == []


def test_duplicate_and_conflicting_members(tmp_path: Path) -> None:
    dup = make_zip(tmp_path / "dup.zip", [("a/x.csv", b"1"), ("a/x.csv", b"2")])
    with pytest.raises(DataFormatError, match=re.escape("'a/x.csv': appears twice")):
        extract_zip(dup, tmp_path / "out")
    clash = make_zip(tmp_path / "clash.zip", [("a", b"file"), ("a/x.csv", b"1")])
    with pytest.raises(
        DataFormatError, match=re.escape("'a/x.csv' lies under 'a', which is a file")
    ):
        extract_zip(clash, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_not_a_zip(tmp_path: Path) -> None:
    fake = tmp_path / "fake.zip"
    fake.write_text("code,weight\n")
    with pytest.raises(DataFormatError, match=re.escape(f"{fake}: not a readable zip file")):
        extract_zip(fake, tmp_path / "out")
    with pytest.raises(DataFormatError, match="no such file"):
        extract_zip(tmp_path / "missing.zip", tmp_path / "out")


def test_existing_target_and_overwrite(source: Path, tmp_path: Path) -> None:
    good = make_zip(tmp_path / "good.zip", motionsense_entries(source))
    bad = make_zip(tmp_path / "bad.zip", [*motionsense_entries(source), ("../x", b"")])
    dest = tmp_path / "dest"
    out = dest / "out"
    out.mkdir(parents=True)
    (out / "old.txt").write_text("previous")

    with pytest.raises(FileExistsError, match="overwrite=True"):
        extract_zip(good, out)
    assert os.listdir(out) == ["old.txt"]
    # A bad archive never replaces what is there.
    with pytest.raises(DataFormatError):
        extract_zip(bad, out, overwrite=True)
    assert os.listdir(out) == ["old.txt"]

    extract_zip(good, out, overwrite=True)
    assert not (out / "old.txt").exists()
    assert data_files(out) == data_files(source)
    assert leftovers(dest) == ["out"]  # neither the old folder nor the staging one

    a_file = dest / "file"
    a_file.write_text("not a folder")
    with pytest.raises(FileExistsError, match="not a folder"):
        extract_zip(good, a_file, overwrite=True)
    assert a_file.read_text() == "not a folder"


# ---------------------------------------------------------------------------- prepare_motionsense


def assert_same_dataset(a: Path, b: Path) -> None:
    da, db = load_motionsense(a), load_motionsense(b)
    assert [(r.subject, r.activity, r.trial) for r in da.recordings] == [
        (r.subject, r.activity, r.trial) for r in db.recordings
    ]
    for ra, rb in zip(da.recordings, db.recordings, strict=True):
        np.testing.assert_array_equal(ra.data, rb.data)
    assert da.subjects == db.subjects


def test_prepare_from_zip_with_subjects_path(source: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "A_DeviceMotion_data.zip", motionsense_entries(source))
    out = prepare_motionsense(archive, tmp_path / "ms", subjects=source / SUBJECTS_FILE)
    assert out == tmp_path / "ms"
    assert sorted(os.listdir(out)) == [DATA_FOLDER, SUBJECTS_FILE]
    assert_same_dataset(out, source)


def test_prepare_from_zip_holding_the_table(source: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "all.zip", motionsense_entries(source, with_table=True))
    out = prepare_motionsense(archive, tmp_path / "ms")
    assert_same_dataset(out, source)


def test_prepare_from_folder(source: Path, tmp_path: Path) -> None:
    assert_same_dataset(prepare_motionsense(source, tmp_path / "a"), source)
    assert_same_dataset(prepare_motionsense(source / DATA_FOLDER, tmp_path / "b"), source)
    with pytest.raises(DataFormatError, match="lies inside the source"):
        prepare_motionsense(source, source / DATA_FOLDER / "copy")


def test_prepare_without_subjects_table(source: Path, tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", motionsense_entries(source))
    with pytest.raises(DataFormatError, match=f"holds no {SUBJECTS_FILE}.*subjects=PATH"):
        prepare_motionsense(archive, tmp_path / "dest" / "ms")
    assert leftovers(tmp_path / "dest") == []
    with pytest.raises(DataFormatError, match="subjects table not found"):
        prepare_motionsense(archive, tmp_path / "ms", subjects=tmp_path / "nope.csv")


def test_prepare_needs_the_data_folder_at_the_top(source: Path, tmp_path: Path) -> None:
    flat = [(name.split("/", 1)[1], data) for name, data in data_files(source).items()]
    archive = make_zip(tmp_path / "flat.zip", flat)
    with pytest.raises(DataFormatError, match=f"expected a top-level {DATA_FOLDER}/ folder"):
        prepare_motionsense(archive, tmp_path / "dest" / "ms", subjects=source / SUBJECTS_FILE)
    assert leftovers(tmp_path / "dest") == []


def test_prepare_reports_bad_files_by_their_archive_path(source: Path, tmp_path: Path) -> None:
    entries = motionsense_entries(source)
    name = f"{DATA_FOLDER}/wlk_7/sub_1.csv"
    i = next(i for i, (n, _) in enumerate(entries) if n == name)
    lines = entries[i][1].decode().splitlines()
    lines[4] = "3,abc" + lines[4][lines[4].index(",", 2) :]  # file line 5, attitude.roll
    entries[i] = (name, ("\n".join(lines) + "\n").encode())
    archive = make_zip(tmp_path / "a.zip", entries)
    dest = tmp_path / "dest"
    with pytest.raises(DataFormatError) as info:
        prepare_motionsense(archive, dest / "ms", subjects=source / SUBJECTS_FILE)
    message = str(info.value)
    assert message.startswith(f"{archive}/{name}: line 5, column 'attitude.roll'")
    assert ".partial" not in message
    assert leftovers(dest) == []


def test_prepare_existing_out_dir(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "ms"
    shutil.copytree(source, out)
    (out / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError):
        prepare_motionsense(source, out)
    assert (out / "mine.txt").exists()
    prepare_motionsense(source, out, overwrite=True)
    assert not (out / "mine.txt").exists()
    assert_same_dataset(out, source)


# ---------------------------------------------------------------------------- replacing a folder


def swap_supported(tmp_path: Path) -> bool:
    a, b = tmp_path / "swap_a", tmp_path / "swap_b"
    a.mkdir()
    b.mkdir()
    (a / "in_a").touch()
    try:
        done = folders_module.exchange(a, b)
        assert not done or (b / "in_a").exists()
        return done
    finally:
        shutil.rmtree(a)
        shutil.rmtree(b)


def watch_target(monkeypatch: pytest.MonkeyPatch, target: Path, complete: list) -> list[str]:
    """Record every rename/swap/removal and check, before and after each, that ``target``
    is a folder holding one of the ``complete`` file sets (old or new)."""
    steps: list[str] = []

    def check(when: str) -> None:
        assert target.is_dir(), f"{target} missing {when}"
        files = {
            p.relative_to(target).as_posix(): p.read_bytes()
            for p in sorted(target.rglob("*"))
            if p.is_file()
        }
        assert files in complete, f"{target} incomplete {when}: {sorted(files)[:3]}..."

    def watched(name, real):
        def call(*args, **kwargs):
            check(f"before {name}")
            result = real(*args, **kwargs)
            steps.append(name)
            check(f"after {name}")
            return result

        return call

    monkeypatch.setattr(folders_module, "exchange", watched("swap", folders_module.exchange))
    monkeypatch.setattr(os, "rename", watched("rename", os.rename))
    monkeypatch.setattr(shutil, "rmtree", watched("rmtree", shutil.rmtree))
    return steps


def test_replacing_never_leaves_the_target_missing(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not swap_supported(tmp_path):
        pytest.skip("no atomic folder swap here (renameat2/renamex_np or the file system)")
    good = make_zip(tmp_path / "good.zip", motionsense_entries(source))
    dest = tmp_path / "dest"
    out = dest / "out"
    out.mkdir(parents=True)
    (out / "old.txt").write_text("previous")
    steps = watch_target(monkeypatch, out, [{"old.txt": b"previous"}, data_files(source)])
    extract_zip(good, out, overwrite=True)
    assert steps == ["swap", "rmtree"]  # swapped in one step, then the old one deleted
    assert data_files(out) == data_files(source)
    assert leftovers(dest) == ["out"]

    # prepare_motionsense replaces its folder the same way.
    ms = tmp_path / "ms"
    shutil.copytree(source, ms)
    (ms / "mine.txt").write_text("keep")
    before = {p.relative_to(ms).as_posix(): p.read_bytes() for p in ms.rglob("*") if p.is_file()}
    after = {
        p.relative_to(source).as_posix(): p.read_bytes()
        for p in source.rglob("*")
        if p.is_file() and p.name != "simulation.json"
    }
    steps = watch_target(monkeypatch, ms, [before, after])
    prepare_motionsense(source, ms, overwrite=True)
    assert steps == ["swap", "rmtree"]
    assert not (ms / "mine.txt").exists()
    assert_same_dataset(ms, source)


def test_replacing_without_a_swap_falls_back_and_restores_on_failure(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(folders_module, "exchange", lambda a, b: False)
    good = make_zip(tmp_path / "good.zip", motionsense_entries(source))
    dest = tmp_path / "dest"
    out = dest / "out"
    out.mkdir(parents=True)
    (out / "old.txt").write_text("previous")

    real_rename = os.rename

    def second_rename_fails(src, dst):
        if Path(src).name.endswith(".partial"):
            raise OSError(16, "busy")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", second_rename_fails)
    with pytest.raises(OSError, match="busy"):
        extract_zip(good, out, overwrite=True)
    assert os.listdir(out) == ["old.txt"]  # put back
    assert leftovers(dest) == ["out"]

    monkeypatch.setattr(os, "rename", real_rename)
    extract_zip(good, out, overwrite=True)
    assert data_files(out) == data_files(source)
    assert leftovers(dest) == ["out"]


def test_unpacked_folder_has_the_mode_of_a_new_folder(source: Path, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    reference.mkdir()
    archive = make_zip(tmp_path / "a.zip", motionsense_entries(source))
    out = extract_zip(archive, tmp_path / "out")
    assert stat.S_IMODE(out.stat().st_mode) == stat.S_IMODE(reference.stat().st_mode)
