"""``bz.start_server()``: the REST + webhook gateway in the kernel's background.

The ``GatewayServer`` runs on the toolkit's runtime loop, so the kernel stays responsive while
it serves. One server per port: calling ``start_server`` again with the same port returns the
running one (re-running a cell is harmless). ``stop()``, ``bz.shutdown()`` and interpreter exit
(kernel shutdown or restart) stop it and free the port.
"""

from __future__ import annotations

import collections
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buzpo_nb.gateway.config import DEFAULT_PORT, GatewaySettings
from buzpo_nb.gateway.server import GatewayServer
from buzpo_nb.notebook.runtime import Runtime, get_runtime

if TYPE_CHECKING:
    from buzpo_nb.notebook.sandbox_handle import SandboxHandle

LOG_LINES = 2000  # kept per server for .logs()

_SERVERS: dict[int, ServerHandle] = {}
_servers_lock = threading.Lock()


class _LogBuffer(logging.Handler):
    """The last ``LOG_LINES`` records of Buzpo's and uvicorn's loggers, formatted."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:
            self.handleError(record)


_LOGGERS = ("buzpo", "uvicorn.error", "uvicorn.access")


class ServerHandle:
    """A running gateway: ``url``, ``admin_token``, ``logs()``, ``stop()``."""

    def __init__(self, runtime: Runtime, server: GatewayServer, requested_port: int) -> None:
        self.runtime = runtime
        self.server = server
        self.requested_port = requested_port
        self.stopped = False
        self._log = _LogBuffer()
        self._saved_levels: dict[str, int] = {}
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            logger.addHandler(self._log)
            if logger.getEffectiveLevel() > logging.INFO:
                self._saved_levels[name] = logger.level
                logger.setLevel(logging.INFO)
        self._remove_closer = runtime.on_shutdown(self._astop)

    def __repr__(self) -> str:
        return f"<Buzpo gateway {'stopped' if self.stopped else self.url}>"

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def admin_token(self) -> str:
        return self.server.admin_token.value

    @property
    def services(self) -> Any:
        return self.server.services

    def logs(self, last: int | None = None) -> list[str]:
        """The server's log lines (INFO and above), oldest first; ``last``: only the newest."""
        lines = list(self._log.lines)
        return lines[-last:] if last else lines

    async def _astop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        try:
            await self.server.stop()
        finally:
            for name in _LOGGERS:
                logging.getLogger(name).removeHandler(self._log)
            for name, level in self._saved_levels.items():
                logging.getLogger(name).setLevel(level)
            with _servers_lock:
                for port in (self.requested_port, self.server.port):
                    if _SERVERS.get(port) is self:
                        del _SERVERS[port]

    def stop(self) -> None:
        """Stop serving and free the port. Idempotent."""
        if self.stopped:
            return
        self._remove_closer()
        self.runtime.run(self._astop())


def start_server(
    port: int = DEFAULT_PORT,
    *,
    sandbox: SandboxHandle | None = None,
    home: str | Path | None = None,
    host: str = "127.0.0.1",
    **settings: Any,
) -> ServerHandle:
    """Start the gateway on ``host:port`` (0: a free port) or return the one already running
    there. With ``sandbox`` it links sessions to that in-kernel sandbox, keeps its data in the
    sandbox's temporary folder and lets webhooks reach loopback receivers (the notebook's own).
    Other keywords are ``GatewaySettings`` fields."""
    with _servers_lock:
        running = _SERVERS.get(port) if port else None
        if running is not None and not running.stopped and running.runtime.running:
            return running
    values: dict[str, Any] = {"host": host, "port": port, "log_level": "info"}
    if sandbox is not None:
        values.update(
            wa_url=sandbox.ws_url,
            allow_private_urls=True,
            home=Path(home) if home else sandbox.home / f"gateway-{port or 'any'}",
        )
    elif home is not None:
        values["home"] = Path(home)
    values.update(settings)
    runtime = get_runtime()
    server = GatewayServer(GatewaySettings(**values), log_level="warning")
    handle = ServerHandle(runtime, server, port)
    try:
        runtime.run(server.start())
    except BaseException:
        runtime.run(handle._astop())
        raise
    with _servers_lock:
        _SERVERS[server.port] = handle
        if port:
            _SERVERS[port] = handle
    return handle
