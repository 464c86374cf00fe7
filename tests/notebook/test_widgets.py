"""Widgets follow their session live (traits, not pixels) and stop when closed."""

from __future__ import annotations

import base64
import threading

import buzpo_nb as bz
from buzpo_nb.client import ConnectionUpdate
from buzpo_nb.notebook.records import MessageRecord
from buzpo_nb.notebook.widgets import ALL_CHATS, MessagesWidget, QrWidget, StatusWidget


def _qr_count(session: bz.Session, count: int) -> threading.Event:
    """An event set once the session has shown ``count`` QR codes."""
    seen: list[str] = []
    reached = threading.Event()

    def listener(kind: str, payload: object) -> None:
        if kind == "qr":
            seen.append(str(payload))
            if len(seen) >= count:
                reached.set()

    session.subscribe(listener)
    return reached


def test_qr_widget_rotates_then_shows_the_linked_number(sb: bz.SandboxHandle, number: str) -> None:
    session = bz.session(f"qr-{number}", sandbox=sb, qr_first_timeout=0.3, qr_timeout=0.3)
    widget = QrWidget(session)
    assert "Waiting for a QR" in widget.label.value and bytes(widget.image.value) == b""
    second = _qr_count(session, 2)
    first_qr = session.wait_qr()
    assert second.wait(15)
    # the widget shows the newest QR: its PNG and string changed with the rotation
    assert widget.qr == session.qr and widget.qr != first_qr
    assert bytes(widget.image.value).startswith(b"\x89PNG") and widget.image.layout.display is None
    assert "Scan with WhatsApp" in widget.label.value

    session.link(sb.phone(number))
    widget.render()  # the open event already rendered; rendering again is idempotent
    assert widget.label.value.startswith(f"<b>Linked as +{number}</b>")
    assert widget.image.layout.display == "none" and widget.qr is None
    session.close()


def test_closed_widgets_unsubscribe(sb: bz.SandboxHandle, number: str) -> None:
    session = bz.session(f"close-{number}", sandbox=sb)
    before = len(session._listeners)
    widgets = [QrWidget(session), StatusWidget([session]), MessagesWidget(session)]
    assert len(session._listeners) == before + 3
    for widget in widgets:
        widget.close()
    assert len(session._listeners) == before
    session.link(sb.phone(number))  # events after close touch no widget
    assert "Linked" not in widgets[0].label.value
    session.close()


def test_status_widget_follows_sessions(sb: bz.SandboxHandle, number: str) -> None:
    session = bz.session(f"status-{number}", sandbox=sb)
    widget = StatusWidget([session])
    assert widget.rows == [(session.name, "", "close", "")]
    session.link(sb.phone(number))
    assert widget.rows == [(session.name, f"+{number}", "open", "")]
    assert f"+{number}" in widget.table.value
    session.close()
    assert widget.rows[0][2] == "close"
    widget.close()


def test_messages_widget_live_newest_first_filter_and_compose(
    sb: bz.SandboxHandle, number: str
) -> None:
    session = bz.session(f"msgs-{number}", sandbox=sb)
    session.link(sb.phone(number))
    alice, bob = sb.phone(str(int(number) + 100)), sb.phone(str(int(number) + 200))
    widget = MessagesWidget(session)
    alice.send(number, "one from alice")
    session.wait_for_message("one from alice")
    bob.send(number, "two from bob")
    session.wait_for_message("two from bob")
    assert [row[3] for row in widget.rows] == ["two from bob", "one from alice"]
    assert set(widget.chat.options) == {ALL_CHATS, alice.jid, bob.jid}

    widget.chat.value = alice.jid
    assert [row[3] for row in widget.rows] == ["one from alice"]

    widget.compose.value = "reply to alice"
    done = threading.Event()
    widget.send_button.click()  # what a click in the browser does
    future = widget._sending[0] if widget._sending else None
    if future is not None:
        future.add_done_callback(lambda _f: done.set())
        assert done.wait(15)
    assert alice.wait_for_message("reply to alice").text == "reply to alice"
    assert widget.rows[0][2:] == ("me", "reply to alice")
    assert widget.compose.value == "" and len(widget.sent) == 1
    widget.close()
    session.close()


def test_status_widget_counts_down_to_the_next_reconnect(sb: bz.SandboxHandle, number: str) -> None:
    now = [1000.0]
    session = bz.session(f"countdown-{number}", sandbox=sb, clock=lambda: now[0])
    widget = StatusWidget([session], clock=lambda: now[0])
    update = ConnectionUpdate("close", 428, "dropped", will_reconnect=True, retry_in=7.2)
    session.runtime.call(session._on_event, update)
    assert widget.rows[0][2] == "reconnecting in 8 s"
    assert "reconnecting in 8 s" in widget.table.value
    now[0] += 5
    widget.render()
    assert widget.rows[0][2] == "reconnecting in 3 s"
    widget.close()
    session.close()


def test_messages_widget_shows_media_thumbnails(sb: bz.SandboxHandle, number: str) -> None:
    session = bz.session(f"thumbs-{number}", sandbox=sb)
    widget = MessagesWidget(session)
    jpeg = b"\xff\xd8\xff\xe0 tiny jpeg \xff\xd9"
    record = MessageRecord(
        "THUMB1",
        "15550009999@s.whatsapp.net",
        "15550009999@s.whatsapp.net",
        False,
        1.0,
        type="image",
        media_type="image/jpeg",
        media_size=2048,
        thumbnail=jpeg,
    )
    plain = MessageRecord(
        "PLAIN1",
        "15550009999@s.whatsapp.net",
        "15550009999@s.whatsapp.net",
        False,
        2.0,
        text="no media",
    )
    session.runtime.call(session._store, record)
    session.runtime.call(session._store, plain)
    widget.render()
    url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    assert widget.thumbnails == {"THUMB1": url}
    assert f'<img src="{url}"' in widget.table.value
    assert widget.table.value.count("<img") == 1
    widget.close()
    session.close()
