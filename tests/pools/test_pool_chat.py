"""An ask's chat answer with a pool: the pool serves the embedding model; chat goes to its first deployment.

The pool's deployments are the embedding model's (an Azure deployment's path names it), so the chat
model is asked of the first deployment by priority, its account and the chat model (on Azure, the
deployment named after the chat model), under the chat model's own limit there.
"""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from project.pool_file import DeploymentSpec, pool_settings
from project.provider import chat_config, chat_limiter, chat_model, provider_pool
from providers import chat_open, chat_prompt_tokens, client_for, pass_within
from tests.pools.conftest import CALM, DIMENSIONS, MODEL, WINDOW

MESSAGES = [{"role": "user", "content": "Sources:\n\n[1] gate.txt\nThe gate admits requests.\n\nQuestion: what admits?"}]


@pytest.fixture
def pool_of_two(settings, simulators):
    a, b = simulators
    for simulator in simulators:
        simulator.configure(rpm=1000, tpm=100_000, time_scale=60.0 / WINDOW, **CALM)
        simulator.reset_limits()
        simulator.reset_stats()
    run = uuid.uuid4().hex[:8]
    specs = (
        DeploymentSpec(name="backup", kind="azure", base_url=b.root_url, api_key_env="KEY_BACKUP",
                       api_key=f"sk-chat-backup-{run}", model=MODEL, dimensions=DIMENSIONS, rpm=1000, tpm=50_000,
                       window_seconds=WINDOW, priority=1, api_version="2024-10-21", deployment="embed-small"),
        DeploymentSpec(name="main", kind="openai", base_url=a.base_url, api_key_env="KEY_MAIN",
                       api_key=f"sk-chat-main-{run}", model=MODEL, dimensions=DIMENSIONS, rpm=1000, tpm=100_000,
                       window_seconds=WINDOW),
    )  # fmt: skip
    settings.TOLLGATE_POOL = specs
    settings.TOLLGATE_MODEL, settings.TOLLGATE_DIMENSIONS, settings.TOLLGATE_RPM, settings.TOLLGATE_TPM = pool_settings(
        specs, model="", window_seconds=WINDOW
    )
    settings.TOLLGATE_WINDOW_SECONDS = WINDOW
    return a, b


def test_chat_goes_to_the_first_deployment_by_priority_under_the_chat_models_own_limit(pool_of_two) -> None:
    a, b = pool_of_two
    first = provider_pool().members[0]
    config = chat_config()
    assert first.name == "main"
    assert (config.model, config.api_key, config.base_url) == (chat_model(), first.config.api_key, a.base_url)

    limiter = chat_limiter()
    assert limiter.account == first.limiter.account and limiter.model == chat_model() != first.limiter.model
    prompt = chat_prompt_tokens(MESSAGES, config.model)
    passage = pass_within(
        limiter=limiter, tokens=prompt + 50,
        call=lambda: chat_open(client_for(config), config, messages=MESSAGES, max_tokens=50, prompt_tokens=prompt),
    )  # fmt: skip
    assert "[1]" in "".join(passage.result)
    assert passage.settle()
    assert limiter.usage().requests_used == 1 and first.limiter.usage().requests_used == 0  # the chat model's window
    assert a.stats(per_input=False)["requests"] == 1 and b.stats(per_input=False)["requests"] == 0


def test_an_azure_first_deployment_is_asked_for_chat_by_the_chat_models_deployment(pool_of_two, settings) -> None:
    settings.TOLLGATE_POOL = tuple(
        dataclasses.replace(spec, priority=0 if spec.kind == "azure" else 1) for spec in settings.TOLLGATE_POOL
    )
    azure = settings.TOLLGATE_POOL[0]
    config = chat_config()
    assert config.model == chat_model() and config.azure_deployment is None
    assert (config.azure_endpoint, config.api_key) == (azure.base_url, azure.api_key)
    # the SDK puts the chat model in the path (Azure's default deployment name), not the embeddings' deployment
    assert config.endpoint == azure.base_url and config.account() != provider_pool().members[0].config.account()
