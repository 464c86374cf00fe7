"""Where a device's credentials and keys live between runs.

``AuthStore`` is the interface the client needs: creds in, creds out, and key-value access to the
Signal key categories (``pre-key``, ``session``, ``sender-key``, ``app-state-sync-key``, ...).
``MultiFileAuthStore`` is its first implementation and uses *exactly* the folder layout of
Baileys' ``useMultiFileAuthState`` (``creds.json`` + ``<category>-<id>.json``, names passed
through ``fix_file_name``, JSON in Baileys' BufferJSON encoding) so one folder can move between a
Baileys app and Buzpo in either direction.

Unlike Baileys, every write is atomic and durable: the JSON goes to a temporary file in the same
directory, is fsynced, then ``os.replace``d over the target (and the directory is fsynced), so a
crash or power loss mid-write leaves either the old file or the new one, never a torn creds.json
that would force re-linking. Files are created 0600 and folders 0700: these keys *are* the
account.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from buzpo_nb.wa import buffer_json
from buzpo_nb.wa.creds import AuthCreds
from buzpo_nb.wa.errors import BuzpoError, DecodeError

log = logging.getLogger(__name__)

CREDS_FILE = "creds.json"
FILE_MODE = 0o600
DIR_MODE = 0o700
_TMP_SUFFIX = ".tmp"
_PARALLEL_WRITES_ABOVE = 16
_WRITE_THREADS = 8
_SESSION_ID = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")


def fix_file_name(name: str) -> str:
    """Baileys' ``fixFileName``: ``/`` -> ``__`` and ``:`` -> ``-``, nothing else."""
    return name.replace("/", "__").replace(":", "-")


def key_file_name(category: str, key_id: str) -> str:
    """The file holding one key: ``<category>-<id>.json`` (e.g. ``pre-key-1.json``)."""
    return fix_file_name(f"{category}-{key_id}.json")


def buzpo_home() -> Path:
    """``$BUZPO_HOME`` if set, else ``~/.buzpo``."""
    env = os.environ.get("BUZPO_HOME")
    return Path(env).expanduser() if env else Path.home() / ".buzpo"


def default_auth_dir(session_id: str = "default") -> Path:
    """``<buzpo home>/auth/<session_id>/``; the id must be a plain name (no path tricks)."""
    if not _SESSION_ID.match(session_id) or session_id in {".", ".."}:
        raise ValueError(f"invalid session id {session_id!r}")
    return buzpo_home() / "auth" / session_id


@runtime_checkable
class AuthStore(Protocol):
    """Persistence the client needs. Values are BufferJSON-able (dicts, lists, str, int, bytes)."""

    async def load_creds(self) -> AuthCreds | None:
        """The saved credentials, or ``None`` if this device was never set up (or was cleared)."""
        ...

    async def save_creds(self, creds: AuthCreds) -> None: ...

    async def get(self, category: str, ids: Iterable[str]) -> dict[str, Any | None]:
        """``{id: value or None}`` for each requested id."""
        ...

    async def set(self, data: Mapping[str, Mapping[str, Any | None]]) -> None:
        """``{category: {id: value}}``; a ``None`` value deletes that key."""
        ...

    async def clear(self) -> None:
        """Forget everything (logout)."""
        ...


@dataclass(slots=True)
class _Batch:
    """File operations waiting for the next group commit, and the future that says it is done."""

    done: asyncio.Future[None]
    ops: dict[str, str | None] = field(default_factory=dict)


class MultiFileAuthStore:
    """Baileys-compatible folder store with atomic, durable, private writes.

    All writes from one store go through one lock, so two saves of ``creds.json`` land in the
    order they were requested; writes that arrive while a batch is being written are committed
    together in the next one (see ``_commit``). File work runs in a worker thread to keep the
    event loop free (an 812 pre-key upload writes 812 files).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder).expanduser()
        if self.folder.exists() and not self.folder.is_dir():
            raise NotADirectoryError(f"{self.folder} exists and is not a directory")
        self._lock = asyncio.Lock()
        self._jobs: set[asyncio.Task[None]] = set()
        self._batch: _Batch | None = None

    @classmethod
    def for_session(cls, session_id: str = "default") -> MultiFileAuthStore:
        return cls(default_auth_dir(session_id))

    def __repr__(self) -> str:
        return f"MultiFileAuthStore({str(self.folder)!r})"

    # -- AuthStore --------------------------------------------------------------------------
    async def load_creds(self) -> AuthCreds | None:
        data = await asyncio.to_thread(self.read_json, CREDS_FILE)
        if not isinstance(data, dict):
            return None
        try:
            return AuthCreds.from_json_dict(data)
        except BuzpoError as exc:  # a hand-edited or foreign file: treat as absent, say so
            log.warning("ignoring unusable %s: %s", self.folder / CREDS_FILE, exc)
            return None

    async def save_creds(self, creds: AuthCreds) -> None:
        await self._commit({CREDS_FILE: creds.to_json()})

    async def get(self, category: str, ids: Iterable[str]) -> dict[str, Any | None]:
        ids = [str(i) for i in ids]

        def read_all() -> dict[str, Any | None]:
            return {i: self.read_json(key_file_name(category, i)) for i in ids}

        return await asyncio.to_thread(read_all)

    async def set(self, data: Mapping[str, Mapping[str, Any | None]]) -> None:
        ops: dict[str, str | None] = {}
        for category, items in data.items():
            for key_id, value in items.items():
                name = key_file_name(category, str(key_id))
                self.path_of(name)  # a name no file can have fails here, not the whole batch
                ops[name] = None if value is None else buffer_json.dumps(value)
        await self._commit(ops)

    async def clear(self) -> None:
        await self._locked(self._clear)

    async def _commit(self, ops: Mapping[str, str | None]) -> None:
        """Write (text) or delete (None) files, durably, in a group commit.

        Writes requested while another batch is on its way to disk are merged into the next
        batch (a later write of the same file replaces the earlier one, which is exactly what
        applying them in order would leave on disk) and made durable together: one thread hop
        and one directory fsync for the lot. Every caller returns once its own writes are
        durable. A burst of Signal record updates (one per message) thus costs a few disk
        round trips instead of one each.
        """
        if not ops:
            return
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch(asyncio.get_running_loop().create_future())
            task = asyncio.ensure_future(self._flush())
            self._jobs.add(task)
            task.add_done_callback(self._jobs.discard)
        batch.ops.update(ops)
        await asyncio.shield(batch.done)

    async def _flush(self) -> None:
        """Write the pending batch (holding the store lock until its thread is done)."""
        async with self._lock:
            batch, self._batch = self._batch, None
            if batch is None:
                return
            writes = {n: t for n, t in batch.ops.items() if t is not None}
            deletes = [n for n, t in batch.ops.items() if t is None]
            try:
                await asyncio.to_thread(self._write_many, writes, deletes)
            except BaseException as exc:
                batch.done.set_exception(exc)
                batch.done.exception()  # retrieved: callers may have been cancelled
                if not isinstance(exc, Exception):
                    raise
            else:
                batch.done.set_result(None)

    async def _locked(self, fn: Callable[..., None], *args: Any) -> None:
        """Run blocking file work in a thread, holding the store lock until it is *done*.

        A cancelled caller must not release the lock while its thread is still writing: a
        ``clear()`` (logout) queued behind it would otherwise race the writes and leave files
        behind. The work is shielded, so cancellation only stops the caller from waiting.
        """

        async def job() -> None:
            async with self._lock:
                await asyncio.to_thread(fn, *args)

        task = asyncio.ensure_future(job())
        self._jobs.add(task)
        task.add_done_callback(self._jobs.discard)
        await asyncio.shield(task)

    # -- file primitives (blocking; also usable directly from sync code and tests) -----------
    def path_of(self, name: str) -> Path:
        """The file of ``name``, always directly in the folder (``/`` is escaped); a NUL, which
        no file name can hold, is a ``DecodeError`` (names come from peers' JIDs)."""
        if "\x00" in name:
            raise DecodeError(f"a key name with a NUL character cannot be a file: {name!r}")
        return self.folder / fix_file_name(name)

    def read_json(self, name: str) -> Any | None:
        """Parsed content of one file, ``None`` if missing or not valid JSON (as in Baileys)."""
        try:
            text = self.path_of(name).read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            return buffer_json.loads(text)
        except ValueError as exc:
            log.warning("ignoring invalid JSON in %s: %s", self.path_of(name), exc)
            return None

    def write_text_atomic(self, name: str, text: str) -> None:
        self._write_many({name: text}, ())

    def _ensure_folder(self) -> None:
        if self.folder.is_dir():
            return
        # Create each missing level 0700 (mkdir's mode is masked by umask, so chmod explicitly).
        missing: list[Path] = []
        p = self.folder
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            with contextlib.suppress(FileExistsError):
                d.mkdir(mode=DIR_MODE)
                os.chmod(d, DIR_MODE)

    def _write_many(self, writes: Mapping[str, str], deletes: Iterable[str]) -> None:
        self._ensure_folder()
        items = [(fix_file_name(name), text.encode("utf-8")) for name, text in writes.items()]
        if len(items) > _PARALLEL_WRITES_ABOVE:
            # File creation, fsync and rename release the GIL: a batch such as 812 pre-keys is
            # several times faster spread over a few threads (each file is still atomic).
            with ThreadPoolExecutor(max_workers=_WRITE_THREADS) as pool:
                list(pool.map(lambda item: self._write_one(*item), items))
        else:
            for name, data in items:
                self._write_one(name, data)
        for name in deletes:
            with contextlib.suppress(FileNotFoundError):
                self.path_of(name).unlink()
        self._fsync_folder()

    def _write_one(self, name: str, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.", suffix=_TMP_SUFFIX)
        try:
            os.fchmod(fd, FILE_MODE)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        os.close(fd)
        os.replace(tmp, self.folder / name)

    def _fsync_folder(self) -> None:
        # The rename is only durable once the directory entry is on disk.
        try:
            fd = os.open(self.folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass  # some filesystems refuse fsync on directories; the write itself succeeded
        finally:
            os.close(fd)

    def _clear(self) -> None:
        if not self.folder.is_dir():
            return
        for entry in self.folder.iterdir():
            is_ours = entry.name.endswith(".json") or (
                entry.name.startswith(".") and entry.name.endswith(_TMP_SUFFIX)
            )
            if is_ours and entry.is_file():
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
        self._fsync_folder()
        with contextlib.suppress(OSError):
            self.folder.rmdir()  # only succeeds if nothing foreign is left in it
