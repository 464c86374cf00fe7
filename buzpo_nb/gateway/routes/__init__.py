"""HTTP routes, one module per resource. Each route validates (Pydantic), authorises
(``Depends(require_admin)`` / ``Depends(require_api_key)``), calls one service method and shapes
the answer; nothing else happens here."""

from buzpo_nb.gateway.routes import api_keys, health, messages, pairing, sessions, webhooks

ROUTERS = (
    sessions.router,
    api_keys.router,
    messages.router,
    messages.internal_router,
    pairing.router,
    webhooks.router,
    health.router,
)
