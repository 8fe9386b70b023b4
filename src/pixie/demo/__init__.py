"""Pixie's demo: the Property API (a resource server protected by :mod:`pixie.resource`), the browser SPA that
signs in with PKCE (``@pixie-oauth/browser``, linked at ``static/sdk``), and the seeding ``pixie demo`` does. Start
it with ``pixie demo``; compose it yourself with :func:`pixie.demo.app.create_demo_app`."""
