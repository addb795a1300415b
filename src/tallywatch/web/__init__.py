"""The web app inside the daemon: ``/healthz`` and ``/metrics``, email self-service (subscribe with
double opt-in, one-click unsubscribe), served by uvicorn in the daemon's loop (``server.py``).

Starlette routes (``app.py``) and Jinja2 templates with autoescape (``templates/``), no JavaScript,
no third-party assets. It reads the running session's store, like the bot; a reload hands it the
new session. Bound to 127.0.0.1 by default: the README shows the reverse proxy with TLS in front.
"""
