"""Fixtures for the web app's tests: users, API clients, and the pipeline's rig of real parts."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.pipeline.conftest import rig, without_vector_index  # noqa: F401  (fixtures used by name)

PASSWORD = "correct horse battery staple"


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="ada", password=PASSWORD)


@pytest.fixture
def api(user) -> APIClient:
    """An API client that sends the user's token, as a script would."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def provider(settings):
    """A configured (unreachable) provider: enough for the limiter's keys, never called."""
    settings.OPENAI_API_KEY = "web-test-key"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    return settings
