"""Unpack a locally downloaded dataset archive safely, and prepare MotionSense from it.

The public MotionSense download is one zip per folder (``A_DeviceMotion_data.zip``).
Nothing here touches the network: users download the zip themselves and
point jaxpriv at it. An archive is untrusted input, so :func:`extract_zip`
checks every member before writing anything (no path may leave the target
folder, no links, a cap on the total size) and writes into a temporary
sibling folder that is renamed into place only once everything succeeded:
an interrupted or rejected extraction never leaves a folder that looks complete.
An existing folder being replaced is swapped out atomically where the system can,
so that the target path always holds a complete folder (see :mod:`jaxpriv.data.folders`).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from jaxpriv.data.dataset import DataFormatError
from jaxpriv.data.folders import check_target, staged_directory
from jaxpriv.data.motionsense import DATA_FOLDER, SUBJECTS_FILE, load_motionsense
from jaxpriv.data.parsing import InvalidPolicy

DEFAULT_MAX_BYTES = 2 * 1024**3  # the real A_DeviceMotion_data is ~120 MB unpacked
DEFAULT_MAX_MEMBERS = 100_000  # the real one has ~400; many tiny files exhaust inodes too
_CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
_IGNORED_TOP = "__MACOSX"  # resource forks macOS adds when zipping


def extract_zip(
    zip_path: str | Path,
    target_dir: str | Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
    overwrite: bool = False,
) -> Path:
    """Unpack a local zip file into ``target_dir`` (created) and return it.

    Every member is checked before anything is written: its path must stay
    inside ``target_dir`` (no absolute paths, drive letters or ``..``), it must
    be a regular file or a folder (no symbolic links or devices), not
    encrypted, and the declared uncompressed sizes must add up to at most
    ``max_bytes`` (the actual bytes written are counted too, so a member lying
    about its size is caught). ``__MACOSX/`` entries are skipped.
    The files are written into a temporary sibling folder that replaces
    ``target_dir`` only when all of them were written. An existing
    ``target_dir`` is an error unless ``overwrite`` is true; it is then
    replaced only after the new contents are complete.

    Raises :class:`DataFormatError` (naming the archive and member) for a
    corrupt or unsafe archive, :class:`FileExistsError` for an existing target.
    """
    zip_path, target = Path(zip_path), Path(target_dir)
    check_target(target, overwrite)
    with _open_zip(zip_path) as zf:
        members = _safe_members(zf, zip_path, max_bytes, max_members)
        with staged_directory(target, overwrite) as staging:
            _write_members(zf, zip_path, members, staging, max_bytes)
    return target


def prepare_motionsense(
    zip_or_folder: str | Path,
    out_dir: str | Path,
    *,
    subjects: str | Path | None = None,
    invalid: InvalidPolicy = "error",
    max_bytes: int = DEFAULT_MAX_BYTES,
    overwrite: bool = False,
) -> Path:
    """Make ``out_dir`` a MotionSense folder that :func:`load_motionsense` reads.

    ``zip_or_folder`` is the downloaded ``A_DeviceMotion_data.zip`` (whose top
    level is the ``A_DeviceMotion_data/`` folder) or an already unpacked folder
    (the data folder itself or its parent). ``subjects`` is the
    ``data_subjects_info.csv`` table; it may be left out when the archive or
    folder holds one. The result, ``out_dir/A_DeviceMotion_data`` plus
    ``out_dir/data_subjects_info.csv``, is fully read once before it is moved
    into place (with the ``invalid`` policy the caller will load it with), so
    a download that does not load is reported now and leaves nothing behind.
    Returns ``out_dir``.
    """
    source, out = Path(zip_or_folder), Path(out_dir)
    check_target(out, overwrite)
    table = Path(subjects) if subjects is not None else None
    if table is not None and not table.is_file():
        raise DataFormatError(f"{table}: subjects table not found")
    if source.is_dir():
        data = _source_data_folder(source)
        if out.resolve().is_relative_to(data.resolve()):
            # Copying a folder into itself never ends.
            raise DataFormatError(f"{out}: the output folder lies inside the source {data}")
        table = table if table is not None else _find_table(data)
        with staged_directory(out, overwrite) as staging:
            shutil.copytree(data, staging / DATA_FOLDER)
            _finish_motionsense(staging, table, source, invalid, data_label=str(data))
    elif source.is_file():
        with _open_zip(source) as zf:
            members = _safe_members(zf, source, max_bytes, DEFAULT_MAX_MEMBERS)
            with staged_directory(out, overwrite) as staging:
                _write_members(zf, source, members, staging, max_bytes)
                _check_zip_top_level(staging, source)
                _finish_motionsense(
                    staging, table, source, invalid, data_label=f"{source}/{DATA_FOLDER}"
                )
    else:
        raise DataFormatError(f"{source}: no such file or folder")
    return out


# ---------------------------------------------------------------------------- members


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as err:
        raise DataFormatError(f"{path}: not a readable zip file ({err})") from None
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read ({err.strerror})") from None


def _member_parts(info: zipfile.ZipInfo, where: str) -> tuple[str, ...]:
    """The member's path components, or an error if it could leave the target folder."""
    name = info.filename
    # Backslashes are separators to Windows; a name using them must be checked as such.
    raw = name.replace("\\", "/")
    if raw.startswith("/"):
        raise DataFormatError(f"{where}: absolute path {name!r} rejected")
    if _DRIVE.match(raw):
        raise DataFormatError(f"{where}: path {name!r} with a drive letter rejected")
    parts = tuple(p for p in PurePosixPath(raw).parts if p != ".")
    if ".." in parts:
        raise DataFormatError(f"{where}: path {name!r} with a '..' component rejected")
    if any(":" in p for p in parts):
        # Drive-relative names and NTFS alternate streams ("a:b") on Windows.
        raise DataFormatError(f"{where}: path {name!r} with ':' rejected")
    return parts


def _member_kind(info: zipfile.ZipInfo, where: str) -> str:
    """``"dir"`` or ``"file"``; links, devices, FIFOs and encrypted members are errors."""
    mode = info.external_attr >> 16  # Unix st_mode, when the zip was made on Unix
    kind = stat.S_IFMT(mode)
    if stat.S_ISLNK(mode):
        raise DataFormatError(f"{where}: symbolic link {info.filename!r} rejected")
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        raise DataFormatError(f"{where}: special file {info.filename!r} rejected")
    if info.flag_bits & 0x1:
        raise DataFormatError(f"{where}: encrypted member {info.filename!r} not supported")
    return "dir" if info.is_dir() or kind == stat.S_IFDIR else "file"


def _safe_members(
    zf: zipfile.ZipFile, zip_path: Path, max_bytes: int, max_members: int
) -> list[tuple[zipfile.ZipInfo, tuple[str, ...], str]]:
    """Check every member up front; return (info, path parts, kind) of those to extract."""
    infos = zf.infolist()
    if len(infos) > max_members:
        raise DataFormatError(
            f"{zip_path}: {len(infos)} members, more than the limit of {max_members}"
        )
    members = []
    files: dict[tuple[str, ...], str] = {}
    folders: set[tuple[str, ...]] = set()
    total = 0
    for info in infos:
        where = f"{zip_path}: member {info.filename!r}"
        parts = _member_parts(info, where)
        kind = _member_kind(info, where)
        if not parts or parts[0] == _IGNORED_TOP:
            continue
        if kind == "dir":
            folders.add(parts)
        else:
            if parts in files:
                raise DataFormatError(f"{where}: appears twice in the archive")
            files[parts] = info.filename
            total += info.file_size
            if total > max_bytes:
                raise DataFormatError(
                    f"{zip_path}: unpacks to more than {max_bytes} bytes (limit reached at "
                    f"member {info.filename!r}); pass a larger max_bytes if it is genuine"
                )
        members.append((info, parts, kind))
    # A file cannot also be a folder (an entry of its own or on the way to another member).
    for parts in folders:
        if parts in files:
            raise DataFormatError(f"{zip_path}: member {files[parts]!r} is a file and a folder")
    for parts, name in files.items():
        for i in range(1, len(parts)):
            if parts[:i] in files:
                raise DataFormatError(
                    f"{zip_path}: member {name!r} lies under {files[parts[:i]]!r}, which is a file"
                )
    return members


def _write_members(
    zf: zipfile.ZipFile,
    zip_path: Path,
    members: list[tuple[zipfile.ZipInfo, tuple[str, ...], str]],
    dest: Path,
    max_bytes: int,
) -> None:
    """Write checked members under ``dest``, counting the bytes actually produced."""
    root = dest.resolve()
    written = 0
    for info, parts, kind in members:
        path = dest.joinpath(*parts)
        # Belt and braces: the checks above already keep every path inside.
        if not path.resolve().is_relative_to(root):
            raise DataFormatError(f"{zip_path}: member {info.filename!r} escapes the target")
        if kind == "dir":
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with zf.open(info) as src, open(path, "wb") as out:
                size = 0
                while chunk := src.read(_CHUNK):
                    size += len(chunk)
                    written += len(chunk)
                    # zipfile already stops at the declared size (then fails the CRC);
                    # counting here keeps the limit even if that ever changes.
                    if size > info.file_size or written > max_bytes:
                        raise DataFormatError(
                            f"{zip_path}: member {info.filename!r} unpacks to more bytes than "
                            f"it declares ({info.file_size}) or past the limit of {max_bytes}"
                        )
                    out.write(chunk)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as err:
            # CRC mismatch, truncated data, unsupported compression...
            raise DataFormatError(f"{zip_path}: member {info.filename!r}: {err}") from None


# ---------------------------------------------------------------------------- MotionSense


def _source_data_folder(folder: Path) -> Path:
    if folder.name == DATA_FOLDER:
        return folder
    if (folder / DATA_FOLDER).is_dir():
        return folder / DATA_FOLDER
    raise DataFormatError(
        f"{folder}: no {DATA_FOLDER} folder found (expected {folder / DATA_FOLDER})"
    )


def _find_table(data: Path) -> Path | None:
    for candidate in (data.parent / SUBJECTS_FILE, data / SUBJECTS_FILE):
        if candidate.is_file():
            return candidate
    return None


def _check_zip_top_level(staging: Path, zip_path: Path) -> None:
    if not (staging / DATA_FOLDER).is_dir():
        found = sorted(p.name for p in staging.iterdir())
        raise DataFormatError(
            f"{zip_path}: expected a top-level {DATA_FOLDER}/ folder in the archive, found {found}"
        )


def _finish_motionsense(
    staging: Path, table: Path | None, source: Path, invalid: InvalidPolicy, *, data_label: str
) -> None:
    """Put the subjects table next to the data folder and read everything once.

    Errors are reported with the paths the user knows (the archive or source
    folder, the table given), not the temporary folder's, which is removed.
    """
    destination = staging / SUBJECTS_FILE
    if table is not None:
        shutil.copyfile(table, destination)
        table_label = str(table)
    elif (staging / DATA_FOLDER / SUBJECTS_FILE).is_file():
        os.replace(staging / DATA_FOLDER / SUBJECTS_FILE, destination)
        table_label = f"{data_label}/{SUBJECTS_FILE}"
    elif destination.is_file():
        table_label = f"{source}/{SUBJECTS_FILE}"
    else:
        raise DataFormatError(
            f"{source}: holds no {SUBJECTS_FILE}; download it too and pass subjects=PATH"
        )
    try:
        load_motionsense(staging, invalid=invalid)
    except DataFormatError as err:
        message = str(err)
        for temporary, known in (
            (str(staging / DATA_FOLDER), data_label),
            (str(staging / SUBJECTS_FILE), table_label),
            (str(staging), str(source)),
        ):
            message = message.replace(temporary, known)
        raise DataFormatError(message) from None
