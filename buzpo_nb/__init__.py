"""Buzpo: a WhatsApp Web multi-device client, gateway and sandbox in Python, and a Jupyter
toolkit (``import buzpo_nb as bz``: ``bz.sandbox()``, ``bz.session()``, ``bz.start_server()``,
widgets and DataFrames).

The toolkit's names are loaded on first use (PEP 562), so importing a lower layer such as
``buzpo_nb.wa`` does not pull in pandas or ipywidgets.
"""

from __future__ import annotations

from typing import Any

_TOOLKIT = (
    "Phone",
    "SandboxHandle",
    "ServerHandle",
    "Session",
    "WebhookInbox",
    "events_df",
    "get_runtime",
    "messages_widget",
    "qr_widget",
    "sandbox",
    "session",
    "sessions",
    "shutdown",
    "start_server",
    "status_widget",
    "webhook_inbox",
)

__all__ = list(_TOOLKIT)


def __getattr__(name: str) -> Any:
    if name in _TOOLKIT:
        from buzpo_nb import notebook

        return getattr(notebook, name)
    raise AttributeError(f"module 'buzpo_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_TOOLKIT])
