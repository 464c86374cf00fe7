"""Schemathesis over the gateway's own OpenAPI document, against the real server.

Every operation of ``/openapi.json`` gets generated requests, valid and invalid (schemathesis
builds them from the schema), sent over real HTTP to a real gateway with a real sandbox, a
linked session and both credentials: the admin token on management endpoints, an API key on
``/api/v1``. What must hold for every answer:

- never a 5xx that means a bug (500); 501/503 are documented answers;
- status, content type, headers and body conform to the document (which is why the document
  declares ``ErrorBody`` for 4XX/5XX, see ``errors.document_errors``);
- every 4xx/5xx body is exactly ``{"error": {"code", "message", "field"}}``.

Example counts are bounded (8 per operation and mode; ``BUZPO_OPENAPI_EXAMPLES`` for a deeper
run, ``BUZPO_OPENAPI_TIMES=1`` with ``-s`` prints the time per operation) so the file runs in
well under a minute.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import schemathesis
from abuse_support import TIMEOUT, ThreadedGateway, link_session, threaded_gateway
from gateway_testkit import assert_error
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

# The event stream never ends (it is what it is for): it cannot be fuzzed request by request.
SKIP = {("GET", "/api/events/stream")}
EXAMPLES = int(os.environ.get("BUZPO_OPENAPI_EXAMPLES", "8"))  # per operation and mode
STATUSES: Counter[int] = Counter()  # what the run saw, for the assertion that it did run
CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
]


def _prepare(running: ThreadedGateway) -> dict[str, str]:
    """A linked session and an API key, so generated requests can hit real rows too."""

    async def setup() -> dict[str, str]:
        headers = {"Authorization": f"Bearer {running.gateway.admin_token.value}"}
        async with httpx.AsyncClient(
            base_url=running.gateway.url, timeout=TIMEOUT, headers=headers
        ) as api:
            linked = await link_session(api, running.gateway, running.sandbox)
            key = (await api.post("/api/api-keys", json={"label": "fuzz"})).json()["key"]
        return {"admin": headers["Authorization"], "key": f"Bearer {key}", "session": linked.id}

    return running.run(setup())


def _fuzz_operation(operation: Any, base_url: str, auth: str, failures: list[str]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    def positive(case: Any) -> None:
        _call(case, base_url, auth, failures)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    def negative(case: Any) -> None:
        _call(case, base_url, auth, failures)

    positive()
    with contextlib.suppress(Unsatisfiable):  # nothing to make invalid (no parameters, no body)
        negative()


def _call(case: Any, base_url: str, auth: str, failures: list[str]) -> None:
    headers = {**(case.headers or {})}
    headers.setdefault("Authorization", auth)
    response = case.call(base_url=base_url, headers=headers, timeout=10)
    STATUSES[response.status_code] += 1
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
        if response.status_code >= 400:
            assert_error(response, response.status_code)
    except BaseException as exc:  # schemathesis raises a FailureGroup: collect, report together
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        failures.append(f"{where}: {type(exc).__name__}: {str(exc)[:500]}")


def test_every_operation_answers_as_documented(tmp_path: Path) -> None:
    with threaded_gateway(tmp_path / "home") as running:
        creds = _prepare(running)
        base_url = running.gateway.url
        schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
        failures: list[str] = []
        operations = 0
        for result in schema.get_all_operations():
            operation = result.ok()
            if (operation.method.upper(), operation.path) in SKIP:
                continue
            operations += 1
            auth = creds["key"] if operation.path.startswith("/api/v1/") else creds["admin"]
            started = time.perf_counter()
            _fuzz_operation(operation, base_url, auth, failures)
            if os.environ.get("BUZPO_OPENAPI_TIMES"):
                print(f"{time.perf_counter() - started:6.2f} s {operation.method} {operation.path}")
        assert operations >= 20
        assert sum(STATUSES.values()) >= operations * 4, STATUSES
        assert any(400 <= s < 500 for s in STATUSES) and any(s < 300 for s in STATUSES)
        assert not failures, "\n".join(dict.fromkeys(failures))
        # After all that, the gateway still serves: the linked session is open and answers.
        health = httpx.get(f"{base_url}/healthz", timeout=TIMEOUT)
        assert health.status_code == 200
        session = httpx.get(
            f"{base_url}/api/sessions/{creds['session']}",
            headers={"Authorization": creds["admin"]},
            timeout=TIMEOUT,
        )
        assert session.status_code in (200, 404), session.text  # DELETE may have been fuzzed
