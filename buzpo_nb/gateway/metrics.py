"""``GET /metrics`` in the Prometheus text format (version 0.0.4), built from the store.

What an operator needs to alert on: sessions by status (a number that dropped to
``disconnected`` or ``logged_out``), messages by direction and status (``failed`` growing),
and the webhook queue (depth, age of the oldest pending event, dead letters, failed attempts).
Numbers come from one read transaction (``GatewayStore.counts``); live session statuses can be
passed in by the session manager, which knows them before the database does. Values derived
from table counts can go down (deleting a session deletes its rows), so they are gauges; only
in-process counters (``rate_limited_total``) are counters.

Pure formatting plus one store read: no HTTP here (the route lives with the other routes).

Public API: ``CONTENT_TYPE``, ``render_metrics(counts, *, live_sessions, now, rate_limited)``,
``await collect_metrics(store, *, live_sessions, rate_limited)``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from buzpo_nb.gateway.store import SESSION_STATUSES, GatewayStore, StoreCounts

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MESSAGE_STATUSES = {
    "out": ("queued", "sent", "delivered", "read", "failed"),
    "in": ("received",),
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[Mapping[str, str], float]],
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            self.lines.append(f"{name}{_labels(labels)} {_number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render_metrics(
    counts: StoreCounts,
    *,
    live_sessions: Mapping[str, int] | None = None,
    now: float | None = None,
    rate_limited: int | None = None,
) -> str:
    """The exposition text. Every known status is listed (0 if none) so series never vanish."""
    out = _Writer()
    sessions = dict(live_sessions if live_sessions is not None else counts.sessions_by_status)
    statuses = sorted(SESSION_STATUSES | set(sessions))
    out.metric(
        "buzpo_sessions",
        "gauge",
        "Sessions by status.",
        (({"status": s}, sessions.get(s, 0)) for s in statuses),
    )
    message_keys = {(d, s) for d, group in MESSAGE_STATUSES.items() for s in group}
    message_keys |= set(counts.messages_by_status)
    out.metric(
        "buzpo_messages",
        "gauge",
        "Stored messages by direction and status.",
        (
            ({"direction": d, "status": s}, counts.messages_by_status.get((d, s), 0))
            for d, s in sorted(message_keys)
        ),
    )
    out.metric(
        "buzpo_webhook_queue_depth",
        "gauge",
        "Webhook events waiting to be delivered.",
        [({}, counts.outbox_pending)],
    )
    out.metric(
        "buzpo_webhook_events",
        "gauge",
        "Webhook outbox rows by state.",
        [
            ({"state": "pending"}, counts.outbox_pending),
            ({"state": "delivered"}, counts.outbox_delivered),
            ({"state": "dead"}, counts.outbox_dead),
        ],
    )
    out.metric(
        "buzpo_webhook_dead_letters",
        "gauge",
        "Webhook events given up on after the retry schedule.",
        [({}, counts.outbox_dead)],
    )
    out.metric(
        "buzpo_webhook_attempts",
        "gauge",
        "Recorded webhook delivery attempts by result.",
        [({"result": "ok"}, counts.attempts_ok), ({"result": "failed"}, counts.attempts_failed)],
    )
    current = time.time() if now is None else now
    age = 0.0 if counts.oldest_pending_at is None else max(0.0, current - counts.oldest_pending_at)
    out.metric(
        "buzpo_webhook_oldest_pending_age_seconds",
        "gauge",
        "Age of the oldest undelivered webhook event (0 when none).",
        [({}, round(age, 3))],
    )
    if rate_limited is not None:
        out.metric(
            "buzpo_rate_limited_total",
            "counter",
            "API requests refused by the per-key rate limit since start.",
            [({}, rate_limited)],
        )
    return out.text()


async def collect_metrics(
    store: GatewayStore,
    *,
    live_sessions: Mapping[str, int] | None = None,
    rate_limited: int | None = None,
) -> str:
    return render_metrics(
        await store.counts(), live_sessions=live_sessions, rate_limited=rate_limited
    )
