"""The notebook toolkit: Buzpo from Jupyter cells (``import buzpo_nb as bz``).

Everything asynchronous runs on one background loop owned by the toolkit (``runtime.py``), so
plain calls work in a kernel whose own loop is already running, and ``a``-prefixed variants can
be awaited at the top level of a cell. Widgets (``widgets.py``) and DataFrames (``frames.py``)
are imported on first use, so importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from buzpo_nb.notebook.runtime import get_runtime, shutdown
from buzpo_nb.notebook.sandbox_handle import Phone, SandboxHandle, sandbox
from buzpo_nb.notebook.server import ServerHandle, start_server
from buzpo_nb.notebook.session_handle import Session, session, sessions
from buzpo_nb.notebook.webhooks import WebhookInbox, webhook_inbox

if TYPE_CHECKING:
    import pandas as pd


def events_df() -> pd.DataFrame:
    """Every event of every session opened here, as a typed DataFrame."""
    from buzpo_nb.notebook.frames import events_frame
    from buzpo_nb.notebook.session_handle import event_records

    return events_frame(event_records())


def demo_history(seed: int = 7, **options: Any) -> pd.DataFrame:
    """A generated, deterministic week of chats as a messages DataFrame (see ``demo.py``)."""
    from buzpo_nb.notebook.demo import demo_history as make

    return make(seed, **options)


def messages_frame(records: Any, **filters: Any) -> pd.DataFrame:
    """Message records (``session.messages()``) as the typed DataFrame."""
    from buzpo_nb.notebook.frames import messages_frame as make

    return make(records, **filters)


def qr_widget(session: Session, **options: Any) -> Any:
    from buzpo_nb.notebook.widgets import QrWidget

    return QrWidget(session, **options)


def status_widget(sessions: list[Session] | None = None) -> Any:
    from buzpo_nb.notebook.widgets import StatusWidget

    return StatusWidget(sessions)


def messages_widget(session: Session, **options: Any) -> Any:
    from buzpo_nb.notebook.widgets import MessagesWidget

    return MessagesWidget(session, **options)


__all__ = [
    "Phone",
    "SandboxHandle",
    "ServerHandle",
    "Session",
    "WebhookInbox",
    "demo_history",
    "events_df",
    "get_runtime",
    "messages_frame",
    "messages_widget",
    "qr_widget",
    "sandbox",
    "session",
    "sessions",
    "shutdown",
    "start_server",
    "status_widget",
    "webhook_inbox",
]
