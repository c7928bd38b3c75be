"""Replacing a folder so that its path always holds a complete folder: the new one is
built in a temporary sibling, synced, then swapped in atomically where the system can
(Linux ``renameat2(RENAME_EXCHANGE)``, macOS ``renamex_np(RENAME_SWAP)``)."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from jaxpriv.run_io import fsync_directory


def check_target(target: Path, overwrite: bool) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise FileExistsError(f"{target} exists and is not a folder; refusing to replace it")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True to replace it")


@contextlib.contextmanager
def staged_directory(target: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary sibling of ``target`` that becomes ``target`` if the block succeeds.

    Same parent, so the final rename is atomic on one file system. On any
    error (KeyboardInterrupt included) the temporary folder is removed and
    an existing ``target`` is left as it was. The folder is made by ``mkdir``
    (mode 0o777 less the umask, as any folder), not ``mkdtemp`` (0700).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = new_sibling(target, ".partial")
    try:
        yield staging
        sync_tree(staging)
        move_into_place(staging, target, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def new_sibling(target: Path, suffix: str) -> Path:
    """Create an empty folder with a fresh random name next to ``target``."""
    for _ in range(100):
        path = target.parent / f".{target.name}.{secrets.token_hex(8)}{suffix}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {target}")


def move_into_place(staging: Path, target: Path, overwrite: bool) -> None:
    """Make the complete folder ``staging`` the ``target``; remove what was there.

    An existing ``target`` is swapped with ``staging`` in one atomic step where the system
    can (Linux ``renameat2(RENAME_EXCHANGE)``, macOS ``renamex_np(RENAME_SWAP)``): at every
    instant ``target`` is then a complete folder, the old one or the new one, and the old
    one, now at the staging path, is deleted afterwards. Where it cannot (Windows, a file
    system without the swap, e.g. NFS), the old folder is renamed aside and the new one
    renamed in; between those two renames ``target`` is missing, and if the second one
    fails the old folder is put back.
    """
    if not target.exists():
        os.rename(staging, target)
        fsync_directory(target.parent)
        return
    check_target(target, overwrite)
    if exchange(staging, target):
        fsync_directory(target.parent)
        shutil.rmtree(staging, ignore_errors=True)  # the old folder, swapped out
        return
    # Fallback: move the old folder aside first (a rename cannot replace a non-empty folder).
    old = new_sibling(target, ".old")
    os.rename(target, old / "previous")
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old / "previous", target)
        shutil.rmtree(old, ignore_errors=True)
        raise
    fsync_directory(target.parent)
    shutil.rmtree(old, ignore_errors=True)


_RENAME_EXCHANGE = 2  # Linux <linux/fs.h>
_RENAME_SWAP = 2  # macOS <stdio.h>
_AT_FDCWD = -100  # Linux <fcntl.h>
# The system or file system has no atomic swap: fall back (nothing was changed).
_NO_SWAP = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap the two existing paths ``a`` and ``b`` (same file system).

    Returns False, having changed nothing, where the platform, C library or file system
    offers no atomic swap; raises ``OSError`` for any other failure.
    """
    if sys.platform.startswith("linux"):
        name = "renameat2"
    elif sys.platform == "darwin":
        name = "renamex_np"
    else:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        func = getattr(libc, name)
    except (OSError, AttributeError):  # e.g. glibc < 2.28, musl without renameat2
        return False
    a_b, b_b = os.fsencode(a), os.fsencode(b)
    if name == "renameat2":
        func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
        func.argtypes += [ctypes.c_uint]
        result = func(_AT_FDCWD, a_b, _AT_FDCWD, b_b, _RENAME_EXCHANGE)
    else:
        func.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]
        result = func(a_b, b_b, _RENAME_SWAP)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in _NO_SWAP:
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def sync_tree(root: Path) -> None:
    """fsync every file and folder under ``root``, so that the folder renamed into place
    holds its data after a crash, not empty files. Best effort where folders cannot be
    opened (Windows)."""
    mode = os.O_RDWR if os.name == "nt" else os.O_RDONLY  # Windows syncs writable handles
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), mode)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_directory(folder)
