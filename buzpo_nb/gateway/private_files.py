"""Small private files (admin token, webhook signing secrets): 0600 in 0700 folders, atomic.

A secret file is either absent, or complete with the right mode: it is written to a temporary
file in the same folder (created 0600, fsynced) and then renamed or linked into place, and the
folder is fsynced, so a crash never leaves a truncated secret or one readable by other users.
``create_only`` uses a hard link, which fails if the target exists: two processes starting at
once agree on ONE admin token instead of the second silently replacing the first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) 0700; an existing folder is left as it is."""
    path = Path(path)
    if path.is_dir():
        return path
    missing: list[Path] = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=DIR_MODE)
            os.chmod(d, DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def write_private(path: Path, data: bytes, *, create_only: bool = False) -> bool:
    """Atomically write ``data`` to ``path`` with mode 0600.

    With ``create_only`` an existing file is kept and ``False`` returned; otherwise the file is
    replaced and ``True`` returned.
    """
    path = Path(path)
    ensure_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    os.close(fd)
    try:
        if create_only:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        else:
            os.replace(tmp, path)
    finally:
        fsync_dir(path.parent)
    return True


def read_private(path: Path) -> bytes | None:
    """The file's bytes, or ``None`` if it does not exist. A file other users can read is made
    0600 first (and a warning names the file, never its content)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_IMODE(mode) & 0o077:
            log.warning("%s was readable by other users; restricting it to 0600", path)
            os.fchmod(fd, FILE_MODE)
        chunks: list[bytes] = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def delete_private(path: Path) -> bool:
    """Remove the file (durably); ``False`` if it was not there."""
    path = Path(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True


def fsync_dir(path: Path) -> None:
    """Make a rename/unlink in ``path`` durable (ignored where directories cannot be fsynced)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
