"""MultiFileAuthStore: Baileys' names and JSON, atomic durable writes, private permissions.

The crash test kills a real child process with SIGXFSZ in the middle of writing (a file-size
rlimit below the new content's size), so "the old file survives" is checked against a real
interrupted write, not a simulated one.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from buzpo_nb.client.auth_store import (
    AuthStore,
    MultiFileAuthStore,
    default_auth_dir,
    fix_file_name,
    key_file_name,
)
from buzpo_nb.wa.creds import init_auth_creds
from buzpo_nb.wa.keys import KeyPair

KEY = bytes(range(32))
PUB = bytes(range(32, 64))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_fix_file_name_is_baileys() -> None:
    assert fix_file_name("a/b:c@d+e=f") == "a__b-c@d+e=f"
    assert key_file_name("pre-key", "12") == "pre-key-12.json"
    assert key_file_name("sender-key", "120363@g.us::15550001111::7") == (
        "sender-key-120363@g.us--15550001111--7.json"
    )
    assert key_file_name("app-state-sync-key", "AAAA/BB==") == "app-state-sync-key-AAAA__BB==.json"
    assert key_file_name("session", "987654321_1.7") == "session-987654321_1.7.json"


async def test_keys_round_trip_with_baileys_names_and_json(tmp_path: Path) -> None:
    store = MultiFileAuthStore(tmp_path / "auth")
    assert isinstance(store, AuthStore)
    await store.set(
        {
            "pre-key": {"1": {"private": KEY, "public": PUB}, "2": None},
            "lid-mapping": {"15550001111": "987654321"},
            "sender-key-memory": {"120363@g.us": {"15550001111:7@s.whatsapp.net": True}},
        }
    )
    folder = tmp_path / "auth"
    assert sorted(p.name for p in folder.iterdir()) == [
        "lid-mapping-15550001111.json",
        "pre-key-1.json",
        "sender-key-memory-120363@g.us.json",
    ]
    raw = (folder / "pre-key-1.json").read_text()
    assert json.loads(raw) == {
        "private": {"type": "Buffer", "data": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="},
        "public": {"type": "Buffer", "data": "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="},
    }
    assert " " not in raw  # compact, like JSON.stringify
    assert (folder / "lid-mapping-15550001111.json").read_text() == '"987654321"'

    got = await store.get("pre-key", ["1", "2"])
    assert got == {"1": {"private": KEY, "public": PUB}, "2": None}
    await store.set({"pre-key": {"1": None}})
    assert await store.get("pre-key", ["1"]) == {"1": None}
    assert not (folder / "pre-key-1.json").exists()


async def test_creds_round_trip_and_permissions(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b" / "session"
    store = MultiFileAuthStore(folder)
    assert await store.load_creds() is None
    creds = init_auth_creds()
    await store.save_creds(creds)
    loaded = await store.load_creds()
    assert loaded is not None
    assert loaded.noise_key == creds.noise_key
    assert loaded.adv_secret_key == creds.adv_secret_key
    assert loaded.signed_pre_key == creds.signed_pre_key
    assert mode(folder / "creds.json") == 0o600
    for d in (tmp_path / "a", tmp_path / "a" / "b", folder):
        assert mode(d) == 0o700
    assert json.loads((folder / "creds.json").read_text())["noiseKey"]["public"]["type"] == "Buffer"
    await store.set({"pre-key": {"7": {"private": KEY, "public": PUB}}})
    assert mode(folder / "pre-key-7.json") == 0o600


async def test_invalid_or_foreign_files_read_as_missing(tmp_path: Path) -> None:
    store = MultiFileAuthStore(tmp_path)
    (tmp_path / "creds.json").write_text("{not json")
    (tmp_path / "pre-key-3.json").write_text("[1,")
    assert await store.load_creds() is None
    assert await store.get("pre-key", ["3"]) == {"3": None}
    (tmp_path / "creds.json").write_text('{"noiseKey": 1}')
    assert await store.load_creds() is None


def test_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        MultiFileAuthStore(tmp_path / "file")


async def test_concurrent_saves_land_in_call_order(tmp_path: Path) -> None:
    store = MultiFileAuthStore(tmp_path)
    creds = init_auth_creds()
    versions = []
    for i in range(10):
        creds.next_pre_key_id = i + 1
        versions.append(store.save_creds(creds))
        creds = init_auth_creds(noise_key=creds.noise_key)
    await asyncio.gather(*versions)
    loaded = await store.load_creds()
    assert loaded is not None and loaded.next_pre_key_id == 10
    assert [p.name for p in tmp_path.iterdir()] == ["creds.json"]  # no temp files left


async def test_clear_removes_everything_it_owns(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    store = MultiFileAuthStore(folder)
    await store.save_creds(init_auth_creds())
    await store.set({"pre-key": {"1": {"private": KEY, "public": PUB}}})
    await store.clear()
    assert not folder.exists()
    assert await store.load_creds() is None
    # a foreign file keeps the folder (we only delete what the layout defines)
    await store.save_creds(init_auth_creds())
    (folder / "notes.txt").write_text("mine")
    await store.clear()
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


def test_default_dir_honours_buzpo_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BUZPO_HOME", str(tmp_path / "home"))
    assert default_auth_dir("work") == tmp_path / "home" / "auth" / "work"
    assert MultiFileAuthStore.for_session("x").folder == tmp_path / "home" / "auth" / "x"
    monkeypatch.delenv("BUZPO_HOME")
    assert default_auth_dir() == Path.home() / ".buzpo" / "auth" / "default"
    for bad in ("../etc", "a/b", "", ".."):
        with pytest.raises(ValueError):
            default_auth_dir(bad)


_CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    from buzpo_nb.client.auth_store import MultiFileAuthStore
    store = MultiFileAuthStore(sys.argv[1])
    if sys.argv[2] == "die":
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # the kernel kills us mid-write
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
    store.write_text_atomic("creds.json", '"' + "n" * 100_000 + '"')
    """
)


def _write_in_child(folder: Path, how: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder), how],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


async def test_crash_mid_write_leaves_the_old_file(tmp_path: Path) -> None:
    store = MultiFileAuthStore(tmp_path)
    old = init_auth_creds()
    await store.save_creds(old)
    before = (tmp_path / "creds.json").read_bytes()

    result = _write_in_child(tmp_path, "die")
    assert result.returncode == -signal.SIGXFSZ, result.stderr  # really killed mid-write

    assert (tmp_path / "creds.json").read_bytes() == before
    loaded = await store.load_creds()
    assert loaded is not None and loaded.noise_key == old.noise_key
    leftovers = [p for p in tmp_path.iterdir() if p.name != "creds.json"]
    assert leftovers and all(p.name.startswith(".creds.json.") for p in leftovers)
    assert all(p.stat().st_size == 4096 for p in leftovers)  # the torn write went there
    await store.clear()  # and clear() sweeps such debris
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


async def test_failed_write_cleans_up_and_keeps_old_file(tmp_path: Path) -> None:
    store = MultiFileAuthStore(tmp_path)
    await store.save_creds(init_auth_creds(noise_key=KeyPair.from_private(KEY)))
    before = (tmp_path / "creds.json").read_bytes()
    result = _write_in_child(tmp_path, "raise")  # SIGXFSZ ignored -> EFBIG -> OSError
    assert result.returncode == 1
    assert "File too large" in result.stderr
    assert (tmp_path / "creds.json").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["creds.json"]


async def test_clear_after_a_cancelled_batch_leaves_nothing_behind(tmp_path: Path) -> None:
    """Logout while 812 pre-keys are being written: the cancelled writer's thread finishes
    under the store lock before ``clear()`` runs, so no key file survives the logout."""
    store = MultiFileAuthStore(tmp_path / "s")
    batch = {"pre-key": {str(i): {"private": KEY, "public": PUB} for i in range(1, 813)}}
    writer = asyncio.create_task(store.set(batch))
    for _ in range(3):  # let the writer take the lock and hand its files to a thread
        await asyncio.sleep(0)
    writer.cancel()
    await store.clear()
    assert writer.cancelled()
    assert not (tmp_path / "s").exists()
