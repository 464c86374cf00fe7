"""Live ipywidgets for sessions: the QR to scan, every session's status, a messages table.

Widgets subscribe to their session(s) and re-render on each change. Changes arrive on the
toolkit's runtime thread; setting traits there is safe because ipykernel (6 and later) sends
every IOPub message, comm messages included, through its IOPub thread with a per-thread pipe,
and each widget renders under its own lock, whole (every render sets the full state, so a late
or repeated update can never leave a stale or half-updated view). Closing a widget unsubscribes
it. Tests check the widgets' traits, not pixels.
"""

from __future__ import annotations

import base64
import html
import io
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import ipywidgets as widgets
import qrcode

from buzpo_nb.notebook.frames import e164
from buzpo_nb.notebook.session_handle import Session, sessions

ALL_CHATS = "All chats"


def qr_png(data: str) -> bytes:
    """The QR string as a PNG (what a phone camera scans)."""
    qr = qrcode.QRCode(border=2, box_size=6, error_correction=qrcode.constants.ERROR_CORRECT_L)
    qr.add_data(data)
    buf = io.BytesIO()
    qr.make_image().save(buf)
    return buf.getvalue()


def thumbnail_url(jpeg: bytes) -> str:
    """A media message's inline JPEG thumbnail as a ``data:`` URL for an ``<img>``."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def _thumb_html(url: str | None) -> str:
    if url is None:
        return ""
    return f'<img src="{url}" style="max-height:64px;vertical-align:middle"> '


class _Live:
    """Subscription bookkeeping shared by the widgets: render now, on every change, until
    ``close()``."""

    _unsubscribers: list[Callable[[], None]]

    def _bind(self, bound: list[Session]) -> None:
        self._render_lock = threading.Lock()
        self._unsubscribers = [s.subscribe(self._changed) for s in bound]
        self.closed = False
        self.render()

    def _changed(self, kind: str, payload: Any) -> None:
        if not self.closed:
            self.render()

    def render(self) -> None:
        with self._render_lock:
            self._render()

    def _render(self) -> None:
        raise NotImplementedError

    def _unbind(self) -> None:
        self.closed = True
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        self._unsubscribers = []


class QrWidget(widgets.VBox, _Live):
    """The session's current QR (replaced as it rotates) or pairing code, then who is linked.

    ``image.value`` is the PNG, ``qr`` the string it encodes, ``label.value`` the status line.
    """

    def __init__(self, session: Session, **kwargs: Any) -> None:
        self.session = session
        self.image = widgets.Image(format="png", width=240, height=240)
        self.label = widgets.HTML()
        self.qr: str | None = None
        super().__init__([self.image, self.label], **kwargs)
        self._bind([session])

    def _render(self) -> None:
        s = self.session
        if s.state == "open":
            self.qr = None
            self.image.layout.display = "none"
            self.label.value = f"<b>Linked as {html.escape(s.number or '?')}</b> — status: open"
        elif s.pairing_code:
            self.image.layout.display = "none"
            code = f"{s.pairing_code[:4]}-{s.pairing_code[4:]}"
            self.label.value = (
                f"Pairing code: <b><code>{code}</code></b> — type it on the phone "
                f"(status: {s.state})"
            )
        elif s.qr:
            if s.qr != self.qr:
                self.qr = s.qr
                self.image.value = qr_png(s.qr)
            self.image.layout.display = None
            self.label.value = (
                f"Scan with WhatsApp → Linked devices (status: {html.escape(s.state)})"
            )
        else:
            self.image.layout.display = "none"
            self.label.value = f"Waiting for a QR code… (status: {html.escape(s.state)})"

    def close(self) -> None:
        self._unbind()
        super().close()


class StatusWidget(widgets.VBox, _Live):
    """Every session (those open when created, or ``sessions``): status, number, last error.

    ``rows`` holds the table as tuples (name, number, status, last error) for code and tests.
    """

    def __init__(
        self,
        watched: list[Session] | None = None,
        *,
        clock: Callable[[], float] | None = None,
        **kwargs: Any,
    ) -> None:
        self._clock = clock or time.time
        self.sessions = list(watched) if watched is not None else sessions()
        self.table = widgets.HTML()
        self.rows: list[tuple[str, str, str, str]] = []
        super().__init__([self.table], **kwargs)
        self._bind(self.sessions)

    def _render(self) -> None:
        rows = []
        for s in self.sessions:
            status = s.state
            if status == "close" and s.will_reconnect:
                status = "reconnecting"
                if s.retry_at is not None:
                    left = max(0, math.ceil(s.retry_at - self._clock()))
                    status = f"reconnecting in {left} s"
            rows.append((s.name, s.number or "", status, s.last_error or ""))
        self.rows = rows
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
            for row in rows
        )
        self.table.value = (
            "<table><thead><tr><th>session</th><th>number</th><th>status</th>"
            f"<th>last error</th></tr></thead><tbody>{body}</tbody></table>"
        )

    def close(self) -> None:
        self._unbind()
        super().close()


class MessagesWidget(widgets.VBox, _Live):
    """The session's messages, newest first, filterable by chat, with a compose box.

    ``chat.value`` is the filter (``ALL_CHATS`` or a chat JID), ``rows`` the shown messages as
    (time, chat, sender, text) tuples; ``compose`` + ``send_button`` reply in the selected chat
    (or to the number typed in ``to``). ``sent`` lists the keys of messages sent from here.
    """

    def __init__(self, session: Session, *, limit: int = 50, **kwargs: Any) -> None:
        self.session = session
        self.limit = limit
        self.chat = widgets.Dropdown(options=[ALL_CHATS], value=ALL_CHATS, description="Chat")
        self.table = widgets.HTML()
        self.to = widgets.Text(placeholder="+15551234567 (or pick a chat)", description="To")
        self.compose = widgets.Text(placeholder="Write a message", description="Message")
        self.send_button = widgets.Button(description="Send", icon="paper-plane")
        self.notice = widgets.HTML()
        self.rows: list[tuple[str, str, str, str]] = []
        self.thumbnails: dict[str, str] = {}  # message id -> data URL of its inline JPEG
        self.sent: list[Any] = []
        self._sending: list[Any] = []
        super().__init__(
            [
                self.chat,
                self.table,
                widgets.HBox([self.to, self.compose, self.send_button]),
                self.notice,
            ],
            **kwargs,
        )
        self.chat.observe(lambda _change: self.render(), names="value")
        self.send_button.on_click(lambda _button: self.send())
        self._bind([session])

    def _render(self) -> None:
        records = self.session.messages()
        chats = sorted({r.chat for r in records})
        options = [ALL_CHATS, *chats]
        if list(self.chat.options) != options:
            current = self.chat.value
            self.chat.options = options
            self.chat.value = current if current in options else ALL_CHATS
        if self.chat.value != ALL_CHATS:
            records = [r for r in records if r.chat == self.chat.value]
        # newest first; same-second messages (WhatsApp times are seconds) by arrival, reversed
        shown = list(reversed(records))[: self.limit]
        self.rows = [
            (
                datetime.fromtimestamp(r.timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S"),
                e164(r.chat) or r.chat,
                "me" if r.from_me else (e164(r.sender) or r.sender),
                r.text or r.caption or f"[{r.type}{f' {r.media_size} B' if r.media_size else ''}]",
            )
            for r in shown
        ]
        self.thumbnails = {r.id: thumbnail_url(r.thumbnail) for r in shown if r.thumbnail}
        body = "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(cell)}</td>" for cell in row[:3])
            + f"<td>{_thumb_html(self.thumbnails.get(r.id))}{html.escape(row[3])}</td>"
            + "</tr>"
            for r, row in zip(shown, self.rows, strict=True)
        )
        self.table.value = (
            "<table><thead><tr><th>time (UTC)</th><th>chat</th><th>from</th><th>text</th>"
            f"</tr></thead><tbody>{body}</tbody></table>"
        )

    def send(self) -> Any:
        """Send the compose box's text (what the Send button does); returns the future."""
        text = self.compose.value.strip()
        to = self.to.value.strip() or (self.chat.value if self.chat.value != ALL_CHATS else "")
        if not text or not to:
            self.notice.value = "Pick a chat or type a number, and write a message."
            return None
        self.compose.value = ""
        future = self.session.runtime.submit(self.session.asend_text(to, text))
        self._sending.append(future)

        def done(f: Any) -> None:
            self._sending.remove(f)
            if f.exception() is not None:
                self.notice.value = f"Not sent: {html.escape(str(f.exception()))}"
            else:
                self.sent.append(f.result())
                self.notice.value = "Sent."

        future.add_done_callback(done)
        return future

    def close(self) -> None:
        self._unbind()
        super().close()
