"""Pairwise Signal sessions: naming them like Baileys, creating them from bundles, using them.

Every device we exchange messages with has one session record, stored under its Signal address.
Baileys 7 stores a PN-addressed device's session under its **LID** address as soon as it knows
the account's LID (``resolveLIDSignalAddress``), and moves PN sessions there when a mapping
appears (``migrateSession``); :meth:`Sessions.address` does the same so the files in a shared
folder are found by both stacks.

Sessions are created from pre-key bundles (``iq encrypt get <key>``, one round trip for all the
devices that lack one; concurrent callers share it) and every encrypt/decrypt is a locked
load -> pure Signal function -> store (see ``signal_store``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

from buzpo_nb.client.inflight import InFlight
from buzpo_nb.client.lid_mapping import LidMappingStore
from buzpo_nb.client.signal_store import AuthSignalStore
from buzpo_nb.wa.addressing import LidPair, signal_address
from buzpo_nb.wa.binary import Node
from buzpo_nb.wa.errors import CryptoError
from buzpo_nb.wa.jid import LID, S_WHATSAPP_NET, Jid
from buzpo_nb.wa.keys import signal_public
from buzpo_nb.wa.prekey_bundle import REASON_IDENTITY, BundleError, bundle_request, parse_bundles
from buzpo_nb.wa.signal import (
    MessageType,
    PreKeyBundle,
    PreKeyWhisperMessage,
    ProtocolAddress,
    SessionRecord,
    SignalError,
    decrypt_message,
    decrypt_prekey_message,
    encrypt,
    initiate_session,
)

Query = Callable[[Node], Awaitable[Node]]  # sends an iq, returns the answer (Client.query)

log = logging.getLogger(__name__)


class Sessions:
    """The pairwise sessions of one client."""

    def __init__(
        self,
        query: Query,
        signal: AuthSignalStore,
        lids: LidMappingStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._query = query
        self.signal = signal
        self.lids = lids
        self._clock = clock
        self._fetches: InFlight[str, bool] = InFlight()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- naming -------------------------------------------------------------------------------
    async def address(self, jid: Jid) -> ProtocolAddress:
        """Where ``jid``'s session lives: its LID address if the account's LID is known."""
        lid = await self.lids.lid_jid(jid)
        return signal_address(lid if lid is not None else jid)

    async def wire_jid(self, jid: Jid) -> Jid:
        """The JID to ask the server for a bundle (LID when known, as Baileys asks)."""
        lid = await self.lids.lid_jid(jid)
        return lid if lid is not None else jid

    async def has_session(self, jid: Jid) -> bool:
        record = await self.signal.load_session(await self.address(jid))
        return record is not None and record.has_open_session()

    # -- creating -----------------------------------------------------------------------------
    async def ensure(self, jids: Sequence[Jid]) -> set[str]:
        """Make sure every device in ``jids`` has an open session; returns the ones that do.

        Devices without one get a bundle in a single ``encrypt get`` round trip (shared with
        concurrent callers). A device the server has no bundle for is left out of the result
        (and logged) rather than failing the whole send.
        """
        ready: set[str] = set()
        todo: dict[str, Jid] = {}
        addresses = {str(j): await self.address(j) for j in jids}
        records = await self.signal.load_sessions(addresses.values())
        for key, addr in addresses.items():
            record = records.get(str(addr))
            if record is not None and record.has_open_session():
                ready.add(key)
            else:
                todo[str(addr)] = Jid.parse(key)
        if todo:
            by_address = {a: j for a, j in todo.items()}

            async def fetch(keys: list[str]) -> dict[str, bool]:
                return await self.fetch_bundles([by_address[k] for k in keys])

            done = await self._fetches.get_many(list(todo), fetch)
            ready.update(str(j) for a, j in todo.items() if done.get(a))
        return ready

    async def refresh_identities(self, jids: Iterable[Jid]) -> None:
        """Baileys' identity refresh for freshly mapped LIDs (``reason=identity``): fetch their
        bundles and start a session where none is open or the identity key changed."""
        targets = list(jids)
        if targets:
            await self.fetch_bundles(targets, reason=REASON_IDENTITY, keep_same_identity=True)

    async def fetch_bundles(
        self,
        jids: Sequence[Jid],
        *,
        reason: str | None = None,
        keep_same_identity: bool = False,
    ) -> dict[str, bool]:
        """Start sessions from fresh bundles, one round trip for all; ``{address: ready}``.

        ``reason="identity"`` marks an identity refresh (Baileys' ``force``); with
        ``keep_same_identity`` an open session whose identity is unchanged is kept."""
        wire = {str(await self.wire_jid(j)): j for j in jids}
        answer = await self._query(bundle_request("", wire, reason=reason))
        bundles = parse_bundles(answer)
        out: dict[str, bool] = {}
        for wire_jid in wire:
            bundle = bundles.get(wire_jid)
            address = signal_address(Jid.parse(wire_jid))
            if bundle is None or isinstance(bundle, BundleError):
                log.warning("no pre-key bundle for %s: %s", wire_jid, bundle)
                out[str(address)] = await self.signal.load_session(address) is not None
                continue
            try:
                out[str(address)] = await self.inject(
                    address, bundle, keep_same_identity=keep_same_identity
                )
            except SignalError as exc:
                log.warning("unusable pre-key bundle for %s: %s", wire_jid, exc)
                out[str(address)] = False
        return out

    async def inject(
        self, address: ProtocolAddress, bundle: PreKeyBundle, *, keep_same_identity: bool = False
    ) -> bool:
        """Start a session from a bundle (the open one, if any, is closed and kept for late
        messages). With ``keep_same_identity`` an open session with the same identity key is
        left alone (an identity refresh, not a re-key)."""
        async with self.signal.locked(address):
            record = await self.signal.load_session(address)
            if keep_same_identity and record is not None:
                current = record.open_session()
                if current is not None and same_identity(
                    current.remote_identity_key, bundle.identity_key
                ):
                    return True
            new = initiate_session(
                record, bundle, local=await self.signal.local_identity(), now_ms=self._now_ms()
            )
            await self.signal.store_session(address, new)
        return True

    # -- using --------------------------------------------------------------------------------
    async def encrypt(self, jid: Jid, plaintext: bytes) -> tuple[MessageType, bytes]:
        """Encrypt (padded) ``plaintext`` for one device; ``NoSession`` if it has none."""
        address = await self.address(jid)
        async with self.signal.locked(address):
            record = await self.signal.load_session(address)
            result = encrypt(record, plaintext, local=await self.signal.local_identity())
            await self.signal.store_session(address, result.record)
        return result.type, result.ciphertext

    async def encrypt_many(
        self, items: Sequence[tuple[Jid, bytes]]
    ) -> tuple[list[tuple[MessageType, bytes]], asyncio.Future[None]]:
        """Encrypt for several devices; returns the ciphertexts and the future of the write.

        One message goes to several devices (the recipient's and our own): their records are
        staged together and written by the store's group commit. The caller must await the
        future (shielded) before sending the ciphertexts. The address locks are taken in sorted
        order, so two such calls can never deadlock; they are released before the write
        finishes, so the next message's encryption overlaps this one's disk write.
        """
        addresses = [await self.address(jid) for jid, _ in items]
        local = await self.signal.local_identity()
        async with contextlib.AsyncExitStack() as stack:
            for name in sorted({str(a) for a in addresses}):
                await stack.enter_async_context(self.signal.locked(name))
            records = await self.signal.load_sessions(addresses)
            out: list[tuple[MessageType, bytes]] = []
            updated: dict[ProtocolAddress, SessionRecord | None] = {}
            for address, (_, plaintext) in zip(addresses, items, strict=True):
                record = updated.get(address) or records.get(str(address))
                result = encrypt(record, plaintext, local=local)
                updated[address] = result.record
                out.append((result.type, result.ciphertext))
            durable = self.signal.stage_sessions(updated)
        return out, durable

    async def decrypt(
        self,
        jid: Jid,
        kind: str,
        data: bytes,
        *,
        before_commit: Callable[[bytes], Awaitable[None]] | None = None,
    ) -> bytes:
        """Decrypt a ``pkmsg``/``msg`` from one device (padded plaintext). Signal errors are
        raised typed (``DuplicateMessage``, ``NoSession``, ``InvalidMessage``...).

        ``before_commit(plaintext)`` runs before the session moves on (durably): once it has,
        the same ciphertext can never be decrypted again, so a caller that must not lose the
        message keeps it there first (a crash in between then just means a redelivery)."""
        address = await self.address(jid)
        local = await self.signal.local_identity()
        async with self.signal.locked(address):
            record = await self.signal.load_session(address)
            if kind == "pkmsg":
                message = PreKeyWhisperMessage.parse(data)
                pre_key = None
                if message.pre_key_id is not None:
                    pre_key = await self.signal.load_pre_key(message.pre_key_id)
                result = decrypt_prekey_message(
                    record,
                    message,
                    local=local,
                    signed_pre_key=await self.signal.load_signed_pre_key(message.signed_pre_key_id),
                    pre_key=pre_key,
                    now_ms=self._now_ms(),
                )
            elif kind == "msg":
                result = decrypt_message(record, data, local=local, now_ms=self._now_ms())
            else:
                raise ValueError(f"not a pairwise message type: {kind!r}")
            if before_commit is not None:
                await before_commit(result.plaintext)
            await self.signal.store_session(address, result.record)
            if result.used_pre_key_id is not None:
                await self.signal.remove_pre_key(result.used_pre_key_id)
        return result.plaintext

    async def delete(self, jid: Jid) -> None:
        address = await self.address(jid)
        async with self.signal.locked(address):
            await self.signal.delete_session(address)

    # -- PN -> LID ----------------------------------------------------------------------------
    async def migrate(self, pair: LidPair, devices: Iterable[int]) -> int:
        """Move open PN sessions of ``pair``'s account to its LID address (Baileys
        ``migrateSession``); returns how many moved."""
        moved = 0
        for device in sorted(set(devices)):
            pn = signal_address(Jid(pair.pn, S_WHATSAPP_NET, device or None))
            lid = signal_address(Jid(pair.lid, LID, device or None))
            first, second = sorted((str(pn), str(lid)))
            async with self.signal.locked(first), self.signal.locked(second):
                record = await self.signal.load_session(pn)
                if record is None or not record.has_open_session():
                    continue
                await self.signal.store_sessions({lid: record, pn: None})
                moved += 1
        return moved


def same_identity(a: bytes, b: bytes) -> bool:
    """Identity keys compare equal whether or not they carry the 0x05 prefix."""
    try:
        return signal_public(a) == signal_public(b)
    except CryptoError:
        return False
