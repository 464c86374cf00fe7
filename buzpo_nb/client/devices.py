"""Device lists: which devices a message must be encrypted for, and the LIDs they come with.

Every send needs the device list of the recipient and of our own account (copies for our other
devices). Lists come from usync (``wa.usync``), are cached for five minutes like Baileys'
``userDevicesCache`` and written to ``device-list-<user>.json`` (Baileys reads them to migrate
sessions). Concurrent senders share one query per user (``InFlight``).

The same answer carries each account's LID (``<lid val>``): new mappings are stored, the
account's PN sessions move to the LID address, and - as Baileys does for freshly mapped LIDs - an
identity refresh fetches the account's bundle so a changed identity key is noticed at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from buzpo_nb.client.auth_store import AuthStore
from buzpo_nb.client.inflight import InFlight
from buzpo_nb.client.lid_mapping import LidMappingStore
from buzpo_nb.client.sessions import Query, Sessions
from buzpo_nb.wa.addressing import lid_pair
from buzpo_nb.wa.errors import BuzpoError
from buzpo_nb.wa.jid import LID, Jid
from buzpo_nb.wa.usync import device_jids, device_list_record, device_query, parse_result

log = logging.getLogger(__name__)

DEVICE_LIST_CATEGORY = "device-list"
DEFAULT_TTL = 300.0  # Baileys DEFAULT_CACHE_TTLS.USER_DEVICES


class DeviceDirectory:
    """Cached device lists of the accounts this client talks to."""

    def __init__(
        self,
        query: Query,
        store: AuthStore,
        me: Callable[[], tuple[Jid, Jid | None]],
        lids: LidMappingStore,
        sessions: Sessions,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._query_iq = query
        self._store = store
        self._me = me
        self.lids = lids
        self.sessions = sessions
        self.ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, list[Jid]]] = {}
        self._queries: InFlight[str, list[Jid]] = InFlight()
        self._sid = 0

    def forget(self, user: Jid | None = None) -> None:
        """Drop cached lists (all, or one account's), e.g. after a retry from an unknown device."""
        if user is None:
            self._cache.clear()
        else:
            self._cache.pop(str(user.user_jid), None)

    def observe(self, device: Jid, *also: Jid | None) -> None:
        """A message came from ``device``: if a cached list of its account lacks it (a device
        linked since), drop that list so the next send asks the server again."""
        for jid in (device, *also):
            if jid is None:
                continue
            key = str(jid.user_jid)
            cached = self._cache.get(key)
            if cached is not None and all(d.device_id != device.device_id for d in cached[1]):
                del self._cache[key]

    async def devices(
        self, users: Sequence[Jid], *, use_cache: bool = True
    ) -> dict[str, list[Jid]]:
        """``{str(user): device JIDs}`` for bare user JIDs (PN or LID), our own sending device
        excluded. An account the server knows no device of maps to an empty list."""
        keys = [str(u.user_jid) for u in users]
        out: dict[str, list[Jid]] = {}
        now = self._clock()
        missing: list[str] = []
        for key in dict.fromkeys(keys):
            cached = self._cache.get(key) if use_cache else None
            if cached is not None and cached[0] > now:
                out[key] = cached[1]
            else:
                missing.append(key)
        if missing:
            fetched = await self._queries.get_many(missing, self._query)
            for key in missing:
                out[key] = fetched.get(key) or []
        return out

    async def _query(self, keys: list[str]) -> dict[str, list[Jid]]:
        me, me_lid = self._me()
        self._sid += 1
        answer = await self._query_iq(device_query("", keys, sid=f"buzpo-{self._sid}"))
        result = parse_result(answer)
        out: dict[str, list[Jid]] = {}
        records: dict[str, list[str]] = {}
        pairs = []
        for user in result.users:
            if user.lid:
                pair = lid_pair(user.jid, user.lid)
                if pair is not None:
                    pairs.append((pair, user))
            try:
                found = device_jids(user, me=me, me_lid=me_lid)
            except BuzpoError as exc:
                log.warning("ignoring usync user %s: %s", user.jid, exc)
                continue
            key = str(Jid.parse(user.jid).user_jid)
            out[key] = found
            if found:
                self._cache[key] = (self._clock() + self.ttl, found)
                records[Jid.parse(user.jid).user] = device_list_record(found)
        if records:
            await self._store.set({DEVICE_LIST_CATEGORY: records})
        await self._learn_lids(pairs)
        return out

    async def _learn_lids(self, found: list) -> None:
        """Store new PN<->LID mappings, move PN sessions, refresh the new LIDs' identities."""
        if not found:
            return
        new = await self.lids.store_pairs([pair for pair, _ in found])
        if not new:
            return
        devices_of = {pair.pn: user for pair, user in found}
        for pair in new:
            user = devices_of.get(pair.pn)
            devices = [d.id for d in (user.devices or ())] if user is not None else []
            moved = await self.sessions.migrate(pair, [0, *devices])
            if moved:
                log.info("moved %d session(s) of %s to its LID", moved, pair.pn)
        try:
            await self.sessions.refresh_identities(Jid(p.lid, LID) for p in new)
        except BuzpoError as exc:  # Baileys only logs this too
            log.warning("identity refresh for new LIDs failed: %s", exc)
