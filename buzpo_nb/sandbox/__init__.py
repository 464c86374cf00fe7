"""A local WhatsApp-compatible server with scriptable virtual phones (``buzpo sandbox``).

Real WhatsApp Web clients (Baileys, Buzpo's own client) link to it exactly as they would to
WhatsApp: Noise handshake, QR or pairing-code linking, 515 restart, login, pre-key upload. The
"phones" are virtual and driven through a control API (HTTP) or from Python, so bots can be
developed and tested offline. Each phone is a real Signal device (device 0 of its account): it
chats end-to-end encrypted with linked clients and other phones, 1:1 and in groups, while the
server side routes messages, receipts and retries and queues them for offline devices.

Built on ``buzpo_nb.wa`` only — never on ``buzpo_nb.client`` — so that a bug in the client cannot
be hidden by the same bug in the server.
"""

from buzpo_nb.sandbox.server import SandboxServer
from buzpo_nb.sandbox.service import Sandbox

__all__ = ["Sandbox", "SandboxServer"]
