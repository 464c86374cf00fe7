"""The web dashboard\x27s static files (``static/``), served by ``routes/dashboard.py``."""
