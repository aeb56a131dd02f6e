"""Where and how to call a provider: OpenAI, Azure OpenAI, or any OpenAI-compatible URL.

Built by the caller from its own settings (``project/provider.py`` reads Django's) and passed in:
nothing in ``providers`` reads settings or the environment. The API key lives in this object and
the SDK client only; its ``repr`` hides it, and the limiter is keyed by :meth:`account`, a
one-way fingerprint.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import openai

from ratelimit import fingerprint

from .errors import ConfigurationError

__all__ = ["OPENAI_URL", "ProviderConfig", "client_for"]

OPENAI_URL = "https://api.openai.com/v1"
CONNECT_TIMEOUT = 5.0  # seconds; the SDK's own default


@dataclass(frozen=True)
class ProviderConfig:
    """One provider account and model.

    Example::

        config = ProviderConfig.openai(model="text-embedding-3-small", dimensions=1536, api_key=key)
        client_for(config).embeddings.create(...)
    """

    model: str
    dimensions: int
    api_key: str = field(repr=False)
    base_url: str | None = None
    azure_endpoint: str | None = None
    azure_api_version: str | None = None
    timeout: float = 60.0
    azure_deployment: str | None = None  # a pool's Azure deployment: its URL, and its own limit (its own account)

    @classmethod
    def from_values(
        cls,
        *,
        model: str,
        dimensions: int,
        openai_api_key: str = "",
        openai_base_url: str = "",
        azure_endpoint: str = "",
        azure_api_key: str = "",
        azure_api_version: str = "",
        timeout: float = 60.0,
    ) -> ProviderConfig:
        """Azure when an Azure endpoint is given, else OpenAI or the compatible ``openai_base_url``."""
        if azure_endpoint:
            return cls(model=model, dimensions=dimensions, api_key=azure_api_key or openai_api_key,
                       azure_endpoint=azure_endpoint, azure_api_version=azure_api_version, timeout=timeout)
        if not (openai_api_key or openai_base_url):
            raise ConfigurationError(
                "no provider configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for another server)"
            )
        return cls(model=model, dimensions=dimensions, api_key=openai_api_key or "not-needed",
                   base_url=openai_base_url or None, timeout=timeout)

    @property
    def endpoint(self) -> str:
        """Where requests go; an Azure deployment's own path, since Azure assigns limits per deployment."""
        if self.azure_endpoint and self.azure_deployment:
            return f"{self.azure_endpoint.rstrip('/')}/openai/deployments/{self.azure_deployment}"
        return self.azure_endpoint or self.base_url or OPENAI_URL

    def account(self) -> str:
        """The limiter's key for this account: a fingerprint of key and endpoint, never the key."""
        return fingerprint(self.api_key, self.endpoint)

    def client(self) -> openai.OpenAI:
        """A new SDK client that never retries on its own: the shared limiter decides when to retry."""
        timeout = openai.Timeout(self.timeout, connect=CONNECT_TIMEOUT)
        if self.azure_endpoint:
            return openai.AzureOpenAI(api_key=self.api_key, azure_endpoint=self.azure_endpoint,
                                      azure_deployment=self.azure_deployment, api_version=self.azure_api_version,
                                      max_retries=0, timeout=timeout)
        return openai.OpenAI(api_key=self.api_key, base_url=self.base_url, max_retries=0, timeout=timeout)


@functools.cache
def client_for(config: ProviderConfig) -> openai.OpenAI:
    """One SDK client per process and provider, so its connection pool is reused across tasks."""
    return config.client()
