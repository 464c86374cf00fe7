"""Session records read and written exactly as libsignal-node 6.0.0 ``SessionRecord.serialize()``.

The two GOLDEN texts were written by Baileys 7.0.0-rc.9's multi-file key store (captured from the
interop node script): an initiator's fresh record still waiting for the peer (``pendingPreKey``),
and the same record after a few turns, with a closed receiving chain holding skipped keys.
"""

from __future__ import annotations

import json

import pytest

from buzpo_nb.wa.signal import MalformedRecord, SessionRecord
from buzpo_nb.wa.signal.session_record import BaseKeyType, Chain, ChainType

GOLDEN_PENDING = (
    '{"_sessions":{"BcrWwGxMrORsiK7CNcCfweriMgcEmWBOi9If6MWESqRI":{"registrationId":10094,"cu'
    'rrentRatchet":{"ephemeralKeyPair":{"pubKey":"BR1GLcHDpuX1qlcHUdr8ulMNbtbEHM0LIVJ6lHkaOq5'
    't","privKey":"wLQvhWa/OFhXCQpQuG9o2ukfCR9ZS4SOnzQBDbSnCWw="},"lastRemoteEphemeralKey":"B'
    'YPFon+7a3Gx4mGA9mvP0zQczasBH6oI+f+ilsZTslwZ","previousCounter":0,"rootKey":"gfgevs4NCLak'
    'w9/rbjrrBa5bJmwGw+RzBqYiy2ty4Gc="},"indexInfo":{"baseKey":"BcrWwGxMrORsiK7CNcCfweriMgcEm'
    'WBOi9If6MWESqRI","baseKeyType":1,"closed":-1,"used":1795761243952,"created":179576124395'
    '2,"remoteIdentityKey":"BWf7jpBtWfGtyWDnUVSm+reUbvLIzs8fwBAcSCZ1z6gn"},"_chains":{"BR1GLc'
    'HDpuX1qlcHUdr8ulMNbtbEHM0LIVJ6lHkaOq5t":{"chainKey":{"counter":-1,"key":"kUGQgsXHq/WxCjU'
    'duo1aQXCEac4FznCHjlQCUvshrhw="},"chainType":1,"messageKeys":{}}},"pendingPreKey":{"signe'
    'dKeyId":4,"baseKey":"BcrWwGxMrORsiK7CNcCfweriMgcEmWBOi9If6MWESqRI","preKeyId":31}}},"ver'
    'sion":"v1"}'
)

GOLDEN_AFTER_TURNS = (
    '{"_sessions":{"BcrWwGxMrORsiK7CNcCfweriMgcEmWBOi9If6MWESqRI":{"registrationId":10094,"cu'
    'rrentRatchet":{"ephemeralKeyPair":{"pubKey":"Bfo4UiQe4yoYeqBW5KRF9eMcAVBCwnUmXOVIyKG5z+0'
    'H","privKey":"6P81Po+gH0dDR6BW3kt2u2XctpYf9A5TdyAhWdZxD0A="},"lastRemoteEphemeralKey":"B'
    'SJ3hLkrrrZGbz5P50FJObr8uy1pOg/oSJflcxR1sNNW","previousCounter":3,"rootKey":"d8nhdvVD87rR'
    'oFk+yoZePgV/CalBIMCbOIMCreSIlY0="},"indexInfo":{"baseKey":"BcrWwGxMrORsiK7CNcCfweriMgcEm'
    'WBOi9If6MWESqRI","baseKeyType":1,"closed":-1,"used":1795761243980,"created":179576124395'
    '2,"remoteIdentityKey":"BWf7jpBtWfGtyWDnUVSm+reUbvLIzs8fwBAcSCZ1z6gn"},"_chains":{"BR3dLf'
    'HDutoNhSX+Bawpsy0QA/seQ14KoSdyZrIScMF6":{"chainKey":{"counter":0},"chainType":2,"message'
    'Keys":{}},"BSJ3hLkrrrZGbz5P50FJObr8uy1pOg/oSJflcxR1sNNW":{"chainKey":{"counter":0,"key":'
    '"oZMCixGgFkhFjVaixEfCsHDUz1FkrW5+cuL3V88a+a8="},"chainType":2,"messageKeys":{}},"Bfo4UiQ'
    'e4yoYeqBW5KRF9eMcAVBCwnUmXOVIyKG5z+0H":{"chainKey":{"counter":-1,"key":"Qwim/XYpv26xqiqM'
    'sJdXheu3j8aP0U9bA26uNkvYyUQ="},"chainType":1,"messageKeys":{}}}}},"version":"v1"}'
)


@pytest.mark.parametrize("text", [GOLDEN_PENDING, GOLDEN_AFTER_TURNS])
def test_golden_round_trip_is_byte_exact(text: str) -> None:
    assert SessionRecord.from_json(text).to_json() == text
    assert SessionRecord.from_json_dict(json.loads(text)).to_json_dict() == json.loads(text)


def test_golden_fields() -> None:
    pending = SessionRecord.from_json(GOLDEN_PENDING)
    state = pending.open_session()
    assert state is not None and pending.has_open_session()
    assert state.base_key_type == BaseKeyType.OURS
    assert state.pending_pre_key is not None
    assert (state.pending_pre_key.signed_key_id, state.pending_pre_key.pre_key_id) == (4, 31)
    assert len(state.remote_identity_key) == 33 and state.remote_identity_key[0] == 5
    after = SessionRecord.from_json(GOLDEN_AFTER_TURNS).open_session()
    assert after is not None and after.pending_pre_key is None
    closed = [c for c in after.chains.values() if c.key is None]
    assert closed and all(c.chain_type == ChainType.RECEIVING for c in closed)


def test_message_keys_in_numeric_order_and_closed_key_omitted() -> None:
    chain = Chain(ChainType.RECEIVING, 100, None, {100: b"c", 9: b"a", 10: b"b"})
    data = chain.to_json_dict()
    assert list(data["messageKeys"]) == ["9", "10", "100"]  # JS orders integer keys numerically
    assert data["chainKey"] == {"counter": 100}
    assert Chain.from_json_dict(data) == chain


def test_pre_v1_record_is_migrated() -> None:
    data = json.loads(GOLDEN_PENDING)
    entry = next(iter(data["_sessions"].values()))
    del entry["registrationId"]
    legacy = {"_sessions": data["_sessions"], "registrationId": 4321}
    record = SessionRecord.from_json_dict(legacy)
    assert record.version == "v1"
    assert record.open_session().registration_id == 4321  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"_sessions": {}, "version": "v9"}',
        '{"_sessions": {"x": {"currentRatchet": {}}}, "version": "v1"}',
        GOLDEN_PENDING.replace('"rootKey":"', '"rootKey":"!!'),
    ],
)
def test_malformed_records(text: str) -> None:
    with pytest.raises(MalformedRecord):
        SessionRecord.from_json(text)


def test_empty_record_serialises_like_libsignal() -> None:
    assert SessionRecord().to_json() == '{"_sessions":{},"version":"v1"}'
