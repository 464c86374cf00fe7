"""Every error the gateway answers, in one JSON shape: ``{"error": {"code", "message", "field"}}``.

A client of the API (a curl user, a bot, the dashboard) must be able to tell *what* went wrong
and *which input* caused it without parsing prose, whatever layer refused the request: our own
services, Pydantic validation, the router (unknown path, wrong method) or a bug. ``ApiError``
subclasses carry their HTTP status and stable ``code``; ``install_error_handlers`` makes FastAPI
answer all of them, and everything else, in the same shape. Nothing here leaks a traceback or a
secret to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("buzpo.gateway")


class ApiError(Exception):
    """A request the gateway refuses. ``status`` is the HTTP status, ``code`` a stable token."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = dict(headers or {})


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class Unprocessable(ApiError):
    status, code = 422, "invalid"


class TooManyRequests(ApiError):
    status, code = 429, "rate_limited"


class NotAvailable(ApiError):
    """A feature that exists in the API but not (yet) in this build; never faked."""

    status, code = 501, "not_implemented"


class Unavailable(ApiError):
    """The session (or WhatsApp) cannot do it right now; retrying later may work."""

    status, code = 503, "unavailable"


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    501: "not_implemented",
    503: "unavailable",
}


def validation_response(errors: Sequence[Mapping[str, Any]]) -> JSONResponse:
    """Pydantic's first complaint as one sentence naming one field (camelCase, dotted).

    Malformed JSON is a 400 (``invalid_json``): the request could not even be read. A body
    that is JSON but has missing fields or wrong types is a 422 naming the field, so a caller
    knows exactly what to fix.
    """
    first: Mapping[str, Any] = next(iter(errors), None) or {"msg": "invalid request", "loc": ()}
    kind = first.get("type", "")
    loc = [str(p) for p in first.get("loc", ())]
    where = loc[1:] if loc and loc[0] in ("body", "path", "query", "header") else loc
    field = ".".join(where) if where else ("body" if loc == ["body"] else None)
    if kind == "json_invalid":
        detail = first.get("ctx", {}).get("error") or first.get("msg")
        return error_response(400, "invalid_json", f"request body is not valid JSON: {detail}")
    if kind == "missing" and not where:
        return error_response(422, "missing", "a JSON request body is required", "body")
    if kind == "model_attributes_type" or (kind.endswith("_type") and not where):
        return error_response(422, "invalid", "the request body must be a JSON object", "body")
    code = "missing" if kind == "missing" else "invalid"
    message = first.get("msg", "invalid value")
    if kind == "missing":
        message = f"{field} is required"
    elif kind == "extra_forbidden":
        code, message = "unknown_field", f"unknown field {field!r}"
    elif field:
        message = f"{field}: {message}"
    return error_response(422, code, message, field)


ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorBody",
    "type": "object",
    "description": "Every error the gateway answers, whatever refused the request.",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "field"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "description": "A stable token, e.g. not_found"},
                "message": {"type": "string", "description": "What went wrong, for people"},
                "field": {
                    "anyOf": [{"type": "string"}, {"type": "null"}],
                    "description": "The input that caused it (camelCase, dotted), if one did",
                },
            },
        }
    },
}
_ERROR_RESPONSE = {
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Make the OpenAPI document tell the truth about errors.

    FastAPI documents a 422 with its own ``HTTPValidationError`` body, which this gateway never
    answers, and nothing else. Every operation can in fact answer 4XX/5XX (auth, unknown ids,
    rate limits, body limits, an unavailable session), always as ``ErrorBody``; clients
    generated from the document (and schemathesis) rely on that.
    """
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorBody"] = ERROR_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {"description": "Invalid input", **_ERROR_RESPONSE}
            responses.setdefault("4XX", {"description": "Refused request", **_ERROR_RESPONSE})
            responses.setdefault("5XX", {"description": "Server-side failure", **_ERROR_RESPONSE})
    return schema


def _install_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    """Answer every failure, ours or the framework's, as ``{"error": {...}}`` (and document
    that shape in the OpenAPI schema)."""
    _install_openapi(app)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_response(exc.errors())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = "no such endpoint"
        return error_response(exc.status_code, code, message, None, exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal server error (see the server log)")
