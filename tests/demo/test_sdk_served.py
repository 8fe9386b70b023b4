"""The demo SPA uses the browser package itself: ``/app/sdk/*.js`` are the files of ``js/browser/src`` (the npm package
``@pixie-oauth/browser``), byte for byte, served as JavaScript under the SPA's strict policy; nothing else is.
A wheel of this tree carries the same files (``tests/packaging/test_browser_sdk_in_wheel.py``)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from demo.support import Demo

PACKAGE = Path(__file__).resolve().parents[2] / "js" / "browser" / "src"


def test_every_module_of_the_package_is_served(demo: Demo) -> None:
    modules = sorted(PACKAGE.glob("*.js"))
    assert {path.name for path in modules} >= {"index.js", "auth.js", "tenants.js"}
    for path in modules:
        response = httpx.get(f"{demo.base}/app/sdk/{path.name}")
        assert response.status_code == 200, path.name
        assert response.content == path.read_bytes(), path.name
        assert response.headers["content-type"].startswith("text/javascript")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"


def test_the_app_imports_the_package(demo: Demo) -> None:
    app = httpx.get(f"{demo.base}/app/app.js").text
    assert 'from "./sdk/index.js"' in app
    assert httpx.get(f"{demo.base}/app/pixie-pkce.js").status_code == 404  # the old copy is gone


@pytest.mark.parametrize("name", ["nothing.js", "..%2Fapp.js", "index.d.ts", "%2e%2e"])
def test_only_the_packages_modules(demo: Demo, name: str) -> None:
    assert httpx.get(f"{demo.base}/app/sdk/{name}").status_code == 404
