"""The web tests' users and API clients, for asks."""

from tests.web.conftest import api, provider, rig, user, without_vector_index  # noqa: F401  (fixtures used by name)
