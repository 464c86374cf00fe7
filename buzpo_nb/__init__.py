"""Buzpo: a WhatsApp Web multi-device client, gateway and sandbox in Python, and a Jupyter
toolkit (``import buzpo_nb as bz``: ``bz.sandbox()``, ``bz.session()``, ``bz.start_server()``,
widgets and DataFrames).

The toolkit's names are loaded on first use (PEP 562), so importing a lower layer such as
``buzpo_nb.wa`` does not pull in pandas or ipywidgets.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_TOOLKIT = (
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
)

__all__ = list(_TOOLKIT)


class _CallableSandboxModule(types.ModuleType):
    """``buzpo_nb.sandbox`` is the sandbox package, and ``bz.sandbox(...)`` must start one:
    the package module is made callable (everything else about it is unchanged)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from buzpo_nb.notebook import sandbox as start

        return start(*args, **kwargs)


class _Package(types.ModuleType):
    """This package's module: when the import system binds the ``sandbox`` subpackage here,
    it becomes callable (see ``_CallableSandboxModule``)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "sandbox" and type(value) is types.ModuleType:
            value.__class__ = _CallableSandboxModule
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name == "sandbox":
        return importlib.import_module("buzpo_nb.sandbox")
    if name in _TOOLKIT:
        from buzpo_nb import notebook

        return getattr(notebook, name)
    raise AttributeError(f"module 'buzpo_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_TOOLKIT])
