"""A source as the dashboard's panel and /metrics show it: rows, embedded, pending, lag, versions.

No workers here: what is pending stays pending, so its lag grows and both faces show it. The
same panel, updated in place while workers embed and a migration builds, is
tests/web/test_browser_sources.py.
"""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client

from project.embeddings.sources.registry import source_add
from project.embeddings.sources.versions import version_create
from tests.web.test_metrics import parse


@pytest.fixture
def people(django_user_model):
    ada = django_user_model.objects.create_user(username="ada")
    bob = django_user_model.objects.create_user(username="bob")
    grace = django_user_model.objects.create_user(username="grace", is_staff=True)
    return ada, bob, grace


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def panel_rows(html: str) -> dict[str, dict[str, str]]:
    """{source name: its row's data- attributes} from the panel's fragment."""
    rows = {}
    for match in re.finditer(r'<tr class="source" id="source-(\w+)"([^>]*)>', html):
        rows[match.group(1)] = dict(re.findall(r'data-([\w-]+)="([^"]*)"', match.group(2)))
    return rows


def test_the_panel_and_metrics_show_rows_pending_lag_and_a_migrations_versions(table, people, settings):
    ada, bob, grace = people
    settings.TOLLGATE_METRICS_TOKEN = ""
    table.insert(*[(f"Article {i}", f"About {i}.") for i in range(7)], (None, None))  # the last holds no text
    source = source_add(name="articles", table=table.name, text_columns=["title", "body"], owner=ada)
    time.sleep(0.3)  # the backfill's rows wait since the version began: a lag above zero
    version_create(source, model="text-embedding-3-large", dimensions=1536, hold=True)

    html = logged_in(ada).get("/dashboard/sources").content.decode()
    row = panel_rows(html)["articles"]
    assert (row["rows"], row["embedded"], row["pending"]) == ("8", "0", "8")
    assert float(row["lag"]) >= 0.3
    assert f"{table.name} <span" in html and "(title, body)" in html
    versions = re.findall(r'data-version="(\d)" data-state="(\w+)" data-progress="([\d.]+)"', html)
    assert versions == [("1", "current", "0.0"), ("2", "building", "0.0")]
    assert "text-embedding-3-large" in html and "<progress" in html

    assert panel_rows(logged_in(bob).get("/dashboard/sources").content.decode()) == {}  # not his
    assert "articles" in panel_rows(logged_in(grace).get("/dashboard/sources").content.decode())  # staff: all

    samples = parse(logged_in(grace).get("/metrics").content)
    name = (("name", "articles"),)
    assert samples["tollgate_sources_rows"][name] == 8
    assert samples["tollgate_sources_embedded"][name] == 0
    assert samples["tollgate_sources_pending"][name] == 8
    assert samples["tollgate_sources_lag_seconds"][name] >= 0.3
    progress = samples["tollgate_sources_version_progress"]
    assert {dict(labels)["version"]: dict(labels)["state"] for labels in progress} == {"1": "current", "2": "building"}
    assert set(progress.values()) == {0.0}


def test_a_source_whose_table_is_gone_is_shown_with_why_and_metrics_are_still_served(table, people, settings):
    ada, _, grace = people
    table.insert(("Article", "About."))
    source_add(name="articles", table=table.name, text_columns=["title", "body"], owner=ada)
    table.sql("ALTER TABLE {t} RENAME TO {t}_renamed")
    table.name += "_renamed"  # the fixture drops it by its new name

    html = logged_in(ada).get("/dashboard/sources").content.decode()
    assert panel_rows(html)["articles"]["rows"] == "0"
    assert "capture:" in html and "does not exist" in html
    response = logged_in(grace).get("/metrics")
    assert response.status_code == 200
    samples = parse(response.content)
    assert samples["tollgate_source_up"][(("source", "database"),)] == 1
    assert samples["tollgate_sources_rows"][(("name", "articles"),)] == 0

