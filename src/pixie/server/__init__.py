"""The authorization server: :func:`pixie.server.app.create_app` builds it."""
