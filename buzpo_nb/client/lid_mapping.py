"""Which LID belongs to which phone number, remembered in the auth folder.

WhatsApp names every account twice: by phone number (PN, ``…@s.whatsapp.net``) and by LID
(``…@lid``). Baileys 7 keeps Signal sessions under the LID address whenever it knows the mapping,
so Buzpo must know the same mappings to open the same session files. Mappings arrive from the
server (usync ``<lid val>``, ``sender_lid``/``participant_pn`` attributes, our own LID at
pairing) and are stored as Baileys stores them: ``lid-mapping-<pn>.json`` = ``"<lid>"`` and
``lid-mapping-<lid>_reverse.json`` = ``"<pn>"``. An in-memory cache keeps lookups off the disk.
"""

from __future__ import annotations

from collections.abc import Iterable

from buzpo_nb.client.auth_store import AuthStore
from buzpo_nb.wa.addressing import (
    LID_MAPPING_CATEGORY,
    REVERSE_SUFFIX,
    LidPair,
    lid_for_pn_jid,
    lid_mapping_items,
    pn_for_lid_jid,
)
from buzpo_nb.wa.jid import HOSTED, S_WHATSAPP_NET, Jid


class LidMappingStore:
    """PN user <-> LID user, cached, persisted in the Baileys layout."""

    def __init__(self, store: AuthStore) -> None:
        self.store = store
        self._lid_of: dict[str, str] = {}
        self._pn_of: dict[str, str] = {}

    def clear(self) -> None:
        """Forget the cache (the folder was wiped)."""
        self._lid_of.clear()
        self._pn_of.clear()

    def _remember(self, pair: LidPair) -> None:
        self._lid_of[pair.pn] = pair.lid
        self._pn_of[pair.lid] = pair.pn

    async def store_pairs(self, pairs: Iterable[LidPair]) -> list[LidPair]:
        """Persist mappings; returns the ones that were not known (or changed)."""
        new: list[LidPair] = []
        for pair in pairs:
            if await self.lid_for_pn(pair.pn) == pair.lid:
                continue
            new.append(pair)
        if new:
            items: dict[str, str] = {}
            for pair in new:
                items.update(lid_mapping_items(pair))
            await self.store.set({LID_MAPPING_CATEGORY: items})
            for pair in new:
                self._remember(pair)
        return new

    async def lid_for_pn(self, pn_user: str) -> str | None:
        cached = self._lid_of.get(pn_user)
        if cached is not None:
            return cached
        value = (await self.store.get(LID_MAPPING_CATEGORY, [pn_user])).get(pn_user)
        if isinstance(value, int | str) and str(value):
            self._remember(LidPair(pn_user, str(value)))
            return str(value)
        return None

    async def pn_for_lid(self, lid_user: str) -> str | None:
        cached = self._pn_of.get(lid_user)
        if cached is not None:
            return cached
        key = f"{lid_user}{REVERSE_SUFFIX}"
        value = (await self.store.get(LID_MAPPING_CATEGORY, [key])).get(key)
        if isinstance(value, int | str) and str(value):
            self._remember(LidPair(str(value), lid_user))
            return str(value)
        return None

    async def lid_jid(self, jid: Jid) -> Jid | None:
        """The LID form of a PN JID (device kept), if the mapping is known."""
        if jid.server not in (S_WHATSAPP_NET, HOSTED):
            return None
        lid = await self.lid_for_pn(jid.user)
        return lid_for_pn_jid(jid, lid) if lid else None

    async def pn_jid(self, jid: Jid) -> Jid | None:
        """The PN form of a LID JID (device kept), if the mapping is known."""
        if not jid.is_lid and jid.server != "hosted.lid":
            return None
        pn = await self.pn_for_lid(jid.user)
        return pn_for_lid_jid(jid, pn) if pn else None
