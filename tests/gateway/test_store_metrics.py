"""Prometheus text from real store counts, checked with the ``prometheus_client`` parser."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from buzpo_nb.gateway.metrics import CONTENT_TYPE, collect_metrics, render_metrics
from buzpo_nb.gateway.store import AttemptOutcome, GatewayStore, MessageDraft, StoreCounts


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_from_the_store(tmp_path: Path) -> None:
    async with GatewayStore(tmp_path) as store:
        a = await store.create_session("a", webhook_url="https://x.test/h")
        await store.create_session("b")
        await store.set_session_status(a.id, "open")
        for i in range(3):
            await store.record_received_message(
                MessageDraft(
                    a.id, "in", chat="1@s.whatsapp.net", sender="1@s.whatsapp.net", wa_id=str(i)
                )
            )
        out, _ = await store.create_outgoing_message(
            MessageDraft(a.id, "out", chat="1@s.whatsapp.net")
        )
        await store.mark_message_failed(out.id, "463")
        target = await store.next_delivery(a.id)
        assert target is not None
        at = target.delivery.created_at
        await store.record_attempt(
            target.delivery.seq,
            AttemptOutcome(at=at, duration=0.1, status=500, next_attempt_at=at + 1),
        )
        text = await collect_metrics(store, rate_limited=7)
    got = samples(text)
    assert got[("buzpo_sessions", (("status", "open"),))] == 1
    assert got[("buzpo_sessions", (("status", "disconnected"),))] == 1
    assert got[("buzpo_sessions", (("status", "logged_out"),))] == 0
    assert got[("buzpo_messages", (("direction", "in"), ("status", "received")))] == 3
    assert got[("buzpo_messages", (("direction", "out"), ("status", "failed")))] == 1
    assert got[("buzpo_messages", (("direction", "out"), ("status", "sent")))] == 0
    assert got[("buzpo_webhook_queue_depth", ())] == 4  # 3 received + 1 failed
    assert got[("buzpo_webhook_attempts", (("result", "failed"),))] == 1
    assert got[("buzpo_webhook_dead_letters", ())] == 0
    assert got[("buzpo_webhook_oldest_pending_age_seconds", ())] >= 0
    assert got[("buzpo_rate_limited_total", ())] == 7
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")


def test_live_statuses_win_and_labels_are_escaped() -> None:
    counts = StoreCounts(
        sessions_by_status={"open": 5},
        messages_by_status={},
        outbox_pending=0,
        outbox_delivered=2,
        outbox_dead=1,
        attempts_failed=0,
        attempts_ok=2,
        oldest_pending_at=None,
    )
    text = render_metrics(counts, live_sessions={"open": 2, 'we"ird\\\n': 1}, now=0)
    got = samples(text)
    assert got[("buzpo_sessions", (("status", "open"),))] == 2
    assert got[("buzpo_sessions", (("status", 'we"ird\\\n'),))] == 1
    assert got[("buzpo_webhook_events", (("state", "dead"),))] == 1
    assert got[("buzpo_webhook_oldest_pending_age_seconds", ())] == 0
    assert "buzpo_rate_limited_total" not in text
    assert text.endswith("\n")
