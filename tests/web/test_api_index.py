"""GET /api/ is a page for people: links to the schema rendered as documentation, served from our own files."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_api_root_is_a_page_linking_the_documentation(client):
    page = client.get("/api/")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    html = page.content.decode()
    for link in ('href="/api/docs/"', 'href="/api/redoc/"', 'href="/api/schema/?format=json"', "manage.py api_token"):
        assert link in html


def test_the_documentation_loads_nothing_from_another_site(client):
    for url in ("/api/docs/", "/api/redoc/"):
        html = client.get(url).content.decode()
        assert "/static/drf_spectacular_sidecar/" in html and "cdn" not in html.lower(), url
    bundle = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    bundle.close()  # WhiteNoise streams the file


def test_the_dashboard_header_links_the_api_page(user):
    browser = Client()
    browser.force_login(user)
    assert '<a href="/api/" id="api-link">API</a>' in browser.get("/").content.decode()
