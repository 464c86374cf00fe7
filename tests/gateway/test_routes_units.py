"""Request models and the error translation, on their own: phone numbers, strictness, and
Pydantic complaints turned into ``{"error": {"code", "message", "field"}}`` naming one field."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from buzpo_nb.gateway.errors import validation_response
from buzpo_nb.gateway.schemas import MessageSend, SessionCreate, iso, normalize_phone


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("+15551234567", "15551234567"),
        ("15551234567", "15551234567"),
        ("+1 (555) 123-4567", "15551234567"),
        ("+44 20 7946 0958", "442079460958"),
    ],
)
def test_phone_numbers(text: str, digits: str) -> None:
    assert normalize_phone(text) == digits


@pytest.mark.parametrize("text", ["", "+", "12345", "+0123456789", "abc", "+1555123456789012"])
def test_not_phone_numbers(text: str) -> None:
    with pytest.raises(ValueError):
        normalize_phone(text)


@given(st.text(max_size=30))
def test_phone_normalization_never_crashes(text: str) -> None:
    try:
        digits = normalize_phone(text)
    except ValueError:
        return
    assert digits.isdigit() and 6 <= len(digits) <= 15


def test_session_create_defaults_and_dedup() -> None:
    body = SessionCreate.model_validate(
        {"name": " demo ", "allowFrom": ["+15551234567", "15551234567"]}
    )
    assert body.name == "demo" and body.dm_policy == "pairing"
    assert body.allow_from == ["15551234567"]


def _error(model: type, data: object) -> dict:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    # FastAPI reports body errors under ("body", ...): do the same.
    errors = [{**e, "loc": ("body", *e["loc"])} for e in info.value.errors()]
    response = validation_response(errors)
    return {"status": response.status_code, **json.loads(response.body)["error"]}


def test_validation_errors_name_the_field() -> None:
    assert _error(SessionCreate, {})["field"] == "name"
    assert _error(SessionCreate, {"name": 1}) | {"message": ""} == {
        "status": 422,
        "code": "invalid",
        "field": "name",
        "message": "",
    }
    error = _error(SessionCreate, {"name": "x", "webhookURL": "y"})
    assert error["code"] == "unknown_field" and error["field"] == "webhookURL"
    assert _error(SessionCreate, {"name": "x", "allowFrom": ["1", "+15551234567"]})["field"] == (
        "allowFrom.0"
    )
    assert _error(SessionCreate, [1, 2])["field"] == "body"
    assert _error(MessageSend, {"to": "+15551234567"})["field"] == "body"
    assert (
        _error(MessageSend, {"to": "+15551234567", "text": "x", "mediaType": "gif"})["field"]
        == "mediaType"
    )


def test_iso_timestamps() -> None:
    assert iso(0) == "1970-01-01T00:00:00.000Z"
    assert iso(1700000000.25) == "2023-11-14T22:13:20.250Z"
    assert iso(None) is None
