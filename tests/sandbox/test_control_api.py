"""The control API's contract: exact shapes, and a JSON error naming the field for bad input."""

from __future__ import annotations

import httpx
import pytest

from buzpo_nb.sandbox import SandboxServer
from buzpo_nb.wa import pairing

NUMBER = "15551234567"


@pytest.fixture
async def http(sandbox: SandboxServer) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=sandbox.http_url) as client:
        yield client  # type: ignore[misc]


async def test_create_and_list_phones(http: httpx.AsyncClient) -> None:
    created = await http.post("/sandbox/phones", json={"number": NUMBER})
    assert created.status_code == 201
    body = created.json()
    assert body["number"] == NUMBER
    assert body["jid"] == f"{NUMBER}@s.whatsapp.net"
    assert body["lid"].endswith("@lid") and len(body["lid"].split("@")[0]) == 15
    assert body["devices"] == 0
    assert (await http.get("/sandbox/phones")).json() == [body]
    assert (await http.get(f"/sandbox/phones/{NUMBER}")).json() == body
    assert (await http.get(f"/sandbox/phones/{NUMBER}/devices")).json() == []
    status = (await http.get("/sandbox")).json()
    assert status == {"phones": 1, "linked_devices": 0, "connections": 0, "ws_path": "/ws/chat"}


async def test_duplicate_phone_is_409(http: httpx.AsyncClient) -> None:
    await http.post("/sandbox/phones", json={"number": NUMBER})
    again = await http.post("/sandbox/phones", json={"number": NUMBER})
    assert again.status_code == 409
    assert again.json() == {"error": f"phone {NUMBER} already exists", "field": None}


async def test_explicit_lid(http: httpx.AsyncClient) -> None:
    body = (
        await http.post("/sandbox/phones", json={"number": NUMBER, "lid": "123456789012345"})
    ).json()
    assert body["lid"] == "123456789012345@lid"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"number": "+15551234567"}, 422, "number"),
        ({"number": "0555123456"}, 422, "number"),
        ({"number": "12345"}, 422, "number"),
        ({"number": "1234567890123456"}, 422, "number"),
        ({"number": "1555 123 4567"}, 422, "number"),
        ({"number": 15551234567}, 422, "number"),
        ({}, 422, "number"),
        ({"number": NUMBER, "colour": "red"}, 422, "colour"),
        ([NUMBER], 422, "body"),
    ],
)
async def test_bad_phone_requests_name_the_field(
    http: httpx.AsyncClient, body: object, status: int, field: str
) -> None:
    response = await http.post("/sandbox/phones", json=body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert response.json()["error"]


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe", b'{"number": "1555', b"null"])
async def test_garbage_json_is_a_clear_4xx(http: httpx.AsyncClient, raw: bytes) -> None:
    response = await http.post(
        "/sandbox/phones", content=raw, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["field"] == "body"
    # and the sandbox still works
    assert (await http.post("/sandbox/phones", json={"number": NUMBER})).status_code == 201


async def test_unknown_phone_is_404_everywhere(http: httpx.AsyncClient) -> None:
    for response in [
        await http.get("/sandbox/phones/19998887777"),
        await http.get("/sandbox/phones/19998887777/devices"),
        await http.delete("/sandbox/phones/19998887777/devices/1"),
        await http.post("/sandbox/phones/19998887777/link", json={"code": "ABCD2345"}),
    ]:
        assert response.status_code == 404, response.text
        assert response.json()["field"] == "number"


async def test_device_id_must_be_a_number(http: httpx.AsyncClient) -> None:
    await http.post("/sandbox/phones", json={"number": NUMBER})
    response = await http.delete(f"/sandbox/phones/{NUMBER}/devices/abc")
    assert response.status_code == 422
    assert response.json()["field"] == "device_id"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 422, "qr"),
        ({"qr": "x", "code": "ABCD2345"}, 422, "code"),
        ({"qr": "not,a,qr"}, 422, "qr"),
        ({"qr": 5}, 422, "qr"),
        ({"code": "ABC"}, 422, "code"),
        ({"code": "ABCD234O"}, 422, "code"),  # O is not in the alphabet
        ({"code": "ABCD-2345"}, 404, "code"),  # well formed, but nobody asked for a code
        ({"qr": pairing.make_qr_string("2@r", b"1" * 32, b"2" * 32, b"3" * 32)}, 404, "qr"),
    ],
)
async def test_bad_link_requests(
    http: httpx.AsyncClient, body: dict[str, object], status: int, field: str
) -> None:
    await http.post("/sandbox/phones", json={"number": NUMBER})
    response = await http.post(f"/sandbox/phones/{NUMBER}/link", json=body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"action": "explode"}, 422, "action"),
        ({}, 422, "action"),
        ({"action": "stream_error"}, 422, "code"),
        ({"action": "stream_error", "code": 42}, 422, "code"),
        ({"action": "stall", "seconds": -1}, 422, "seconds"),
        ({"action": "drop", "jid": "15551234567:7@s.whatsapp.net"}, 404, "jid"),
        ({"action": "drop", "jid": "garbage"}, 404, "jid"),
    ],
)
async def test_bad_fault_requests(
    http: httpx.AsyncClient, body: dict[str, object], status: int, field: str
) -> None:
    response = await http.post("/sandbox/faults", json=body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert (await http.get("/sandbox/faults")).json() == []


async def test_openapi_schema_is_served(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/openapi.json")).json()
    assert "/sandbox/phones/{number}/link" in schema["paths"]
