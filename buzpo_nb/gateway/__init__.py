"""The Buzpo gateway (``buzpo serve``): WhatsApp sessions behind a REST API with API keys and
signed, durable webhooks.

Layer 4: built on ``client/`` (and ``sandbox/`` for the no-phone demo); never imports
``notebook/``. ``create_app(settings)`` in ``app.py`` assembles it; ``GatewayServer`` in
``server.py`` runs it in-process.
"""
