"""Remote providers configured from the environment: ``openai``, ``anthropic``, ``ollama``.

:func:`register_remote_providers` adds them to a registry, with ``fallback:``
chains (:mod:`nexus.providers.fallback`) and a check per provider for ``nexus doctor``.

Each ``PREFIX:MODEL`` becomes a :class:`~nexus.providers.reliability.ReliableProvider`
over one adapter per endpoint. Variables (read when a model is first used):

=============================  ===============================================
``OPENAI_API_KEY``             key for ``openai:`` (missing: ConfigError on first call)
``OPENAI_BASE_URL``            default ``https://api.openai.com/v1``
``ANTHROPIC_API_KEY``          key for ``anthropic:``
``ANTHROPIC_BASE_URL``         default ``https://api.anthropic.com``
``OLLAMA_BASE_URL``            default ``http://127.0.0.1:11434/v1`` (no key)
``NEXUS_ENDPOINTS_<PREFIX>``   several endpoints, comma-separated, preferred first
``NEXUS_ENDPOINTS``            a YAML file: ``{"openai:gpt-4o-mini": [url, …], "anthropic": [url]}``
``NEXUS_MODEL_TIMEOUT_S``      timeout of one call (default 120)
``NEXUS_MODEL_MAX_ATTEMPTS``   attempts per call, first included (default 4)
``NEXUS_BREAKER_FAILURES``     consecutive failures that open an endpoint (default 5)
``NEXUS_BREAKER_COOLDOWN_S``   how long an open endpoint is skipped (default 30)
``NEXUS_OPENAI_TRANSPORT``     ``http``: the lean client of :mod:`nexus.providers.openai_http`
                               (default, unless a proxy variable is set); ``sdk``: the
                               official client (default when ``HTTPS_PROXY``/``ALL_PROXY``
                               is set, since the lean client does not speak to proxies)
=============================  ===============================================

Endpoints are looked up in that order: the file's entry for the model, the
file's entry for the prefix, ``NEXUS_ENDPOINTS_<PREFIX>``, the base URL variable,
the default. :func:`describe_remote` says whether each provider is usable
without ever showing a key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
import yaml

from nexus.errors import ConfigError
from nexus.providers.base import ModelProvider
from nexus.providers.fallback import FallbackProvider, parse_chain
from nexus.providers.reliability import (
    BreakerBoard,
    BreakerPolicy,
    Endpoint,
    ReliableProvider,
    RetryPolicy,
)

if TYPE_CHECKING:
    from nexus.providers.registry import ModelRegistry

__all__ = [
    "DEFAULT_ANTHROPIC_BASE_URL",
    "DEFAULT_OLLAMA_BASE_URL",
    "DEFAULT_OPENAI_BASE_URL",
    "REMOTE_SPECS",
    "RemoteSpec",
    "breakers_from_env",
    "describe_remote",
    "endpoints_for",
    "make_remote_provider",
    "register_remote_providers",
    "retry_policy_from_env",
]

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com"
DEFAULT_OLLAMA_BASE_URL = "http://127.0.0.1:11434/v1"
_PROBE_TIMEOUT_S = 1.0


@dataclass(frozen=True, slots=True)
class RemoteSpec:
    """How a provider prefix is reached: its wire format, base URL and key variables."""

    prefix: str
    wire: Literal["openai", "anthropic"]
    base_url_env: str
    default_base_url: str
    key_env: str | None
    #: a placeholder key for servers that need none (Ollama)
    fixed_key: str | None = None
    #: the request field for the output token limit (OpenAI wire only)
    max_tokens_field: str = "max_completion_tokens"


REMOTE_SPECS: dict[str, RemoteSpec] = {
    "openai": RemoteSpec(
        "openai", "openai", "OPENAI_BASE_URL", DEFAULT_OPENAI_BASE_URL, "OPENAI_API_KEY"
    ),
    "anthropic": RemoteSpec(
        "anthropic",
        "anthropic",
        "ANTHROPIC_BASE_URL",
        DEFAULT_ANTHROPIC_BASE_URL,
        "ANTHROPIC_API_KEY",
    ),
    "ollama": RemoteSpec(
        "ollama",
        "openai",
        "OLLAMA_BASE_URL",
        DEFAULT_OLLAMA_BASE_URL,
        None,
        fixed_key="ollama",
        max_tokens_field="max_tokens",
    ),
}


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum:g}")
    return value


def retry_policy_from_env(env: Mapping[str, str]) -> RetryPolicy:
    """The retry policy, with ``NEXUS_MODEL_MAX_ATTEMPTS`` applied."""
    return RetryPolicy(max_attempts=int(_number(env, "NEXUS_MODEL_MAX_ATTEMPTS", 4, 1)))


def breakers_from_env(env: Mapping[str, str]) -> BreakerBoard:
    """A breaker board with ``NEXUS_BREAKER_FAILURES`` and ``NEXUS_BREAKER_COOLDOWN_S``."""
    return BreakerBoard(
        BreakerPolicy(
            failure_threshold=int(_number(env, "NEXUS_BREAKER_FAILURES", 5, 1)),
            cooldown_s=_number(env, "NEXUS_BREAKER_COOLDOWN_S", 30.0, 0),
        )
    )


def _split(raw: Any, source: str) -> list[str]:
    if isinstance(raw, str):
        urls = [u.strip() for u in raw.split(",")]
    elif isinstance(raw, list):
        urls = [str(u).strip() for u in raw]
    else:
        raise ConfigError(f"{source}: expected a list of URLs, got {type(raw).__name__}")
    urls = [u.rstrip("/") for u in urls if u]
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{source}: endpoint '{url}' is not an http(s) URL")
    return urls


def _endpoints_file(env: Mapping[str, str]) -> dict[str, Any]:
    path = env.get("NEXUS_ENDPOINTS", "").strip()
    if not path:
        return {}
    try:
        data = yaml.safe_load(Path(path).expanduser().read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"NEXUS_ENDPOINTS file {path} cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"NEXUS_ENDPOINTS file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"NEXUS_ENDPOINTS file {path}: expected a mapping of model to URLs")
    return data


def endpoints_for(spec: RemoteSpec, model: str, env: Mapping[str, str]) -> list[str]:
    """The base URLs serving ``spec.prefix:model``, preferred first."""
    table = _endpoints_file(env)
    for key in (f"{spec.prefix}:{model}", spec.prefix):
        if key in table:
            urls = _split(table[key], f"NEXUS_ENDPOINTS entry '{key}'")
            if urls:
                return urls
    name = f"NEXUS_ENDPOINTS_{spec.prefix.upper()}"
    if env.get(name, "").strip():
        urls = _split(env[name], name)
        if urls:
            return urls
    base = env.get(spec.base_url_env, "").strip()
    return _split(base, spec.base_url_env) if base else [spec.default_base_url]


def _adapter(
    spec: RemoteSpec,
    model: str,
    url: str,
    key: str | None,
    timeout: float,
    env: Mapping[str, str] | None = None,
) -> ModelProvider:
    # the SDKs take a second or more to import: only when a model is first made
    key_env = spec.key_env or spec.base_url_env
    if spec.wire == "anthropic":
        from nexus.providers.anthropic_provider import AnthropicProvider

        return AnthropicProvider(
            model,
            base_url=url,
            api_key=key,
            api_key_env=key_env,
            name=spec.prefix,
            timeout_s=timeout,
        )
    if _openai_transport(env or {}) == "http":
        from nexus.providers.openai_http import OpenAIHttpProvider

        return OpenAIHttpProvider(
            model,
            base_url=url,
            api_key=key,
            api_key_env=key_env,
            name=spec.prefix,
            timeout_s=timeout,
            max_tokens_field=spec.max_tokens_field,
        )
    from nexus.providers.openai_provider import OpenAIProvider

    return OpenAIProvider(
        model,
        base_url=url,
        api_key=key,
        api_key_env=key_env,
        name=spec.prefix,
        timeout_s=timeout,
        max_tokens_field=spec.max_tokens_field,
    )


def make_remote_provider(
    spec: RemoteSpec,
    model: str,
    *,
    env: Mapping[str, str] | None = None,
    breakers: BreakerBoard | None = None,
) -> ModelProvider:
    """``spec.prefix:model`` over its endpoints, with retries and breakers."""
    if not model:
        raise ConfigError(f"model name '{spec.prefix}:' lacks the model, e.g. {spec.prefix}:NAME")
    source = os.environ if env is None else env
    key = spec.fixed_key
    if key is None and spec.key_env is not None:
        key = source.get(spec.key_env, "").strip() or None
    timeout = _number(source, "NEXUS_MODEL_TIMEOUT_S", 120.0, 0.001)
    endpoints = [
        Endpoint(url, _adapter(spec, model, url, key, timeout, source))
        for url in endpoints_for(spec, model, source)
    ]
    return ReliableProvider(
        spec.prefix,
        model,
        endpoints,
        policy=retry_policy_from_env(source),
        breakers=breakers if breakers is not None else breakers_from_env(source),
    )


def _probe(url: str) -> tuple[bool, str]:
    try:
        reply = httpx.get(f"{url}/models", timeout=_PROBE_TIMEOUT_S)
    except Exception as exc:  # any failure means "not reachable"
        return False, f"not reachable at {url} ({type(exc).__name__})"
    if reply.status_code != 200:
        return False, f"{url} answered HTTP {reply.status_code}"
    try:
        models = reply.json().get("data") or []
    except (ValueError, AttributeError):
        models = []
    return True, f"reachable at {url} ({len(models)} model(s))"


def describe_remote(spec: RemoteSpec, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``{"ok", "detail"}`` for ``nexus doctor``: key present, endpoints, reachability.

    Keys are never shown, only whether they are set. A provider without a key
    (Ollama) is probed with ``GET /models`` and a 1 s timeout.
    """
    source = os.environ if env is None else env
    try:
        urls = endpoints_for(spec, "*", source)
    except ConfigError as exc:
        return {"ok": False, "detail": exc.message}
    where = ", ".join(urls)
    if spec.key_env is None:
        results = [_probe(url) for url in urls]
        return {"ok": any(ok for ok, _ in results), "detail": "; ".join(d for _, d in results)}
    if not source.get(spec.key_env, "").strip():
        return {"ok": False, "detail": f"{spec.key_env} not set (endpoint {where})"}
    return {"ok": True, "detail": f"{spec.key_env} set; endpoint {where}"}


class _SharedBreakers:
    """One breaker board per registry, made from the environment on first use."""

    def __init__(self, env: Mapping[str, str] | None) -> None:
        self._env = env
        self._board: BreakerBoard | None = None

    def board(self) -> BreakerBoard:
        if self._board is None:
            self._board = breakers_from_env(os.environ if self._env is None else self._env)
        return self._board


def register_remote_providers(
    registry: ModelRegistry, env: Mapping[str, str] | None = None
) -> None:
    """Register ``openai``, ``anthropic``, ``ollama`` and ``fallback`` chains on ``registry``.

    ``env`` (default: ``os.environ`` as it is when a model is first used) supplies
    keys, endpoints and limits. The breakers are shared by every model of the
    registry, one per endpoint URL.
    """
    shared = _SharedBreakers(env)

    def factory(spec: RemoteSpec) -> Any:
        return lambda model: make_remote_provider(spec, model, env=env, breakers=shared.board())

    def check(spec: RemoteSpec) -> Any:
        return lambda: describe_remote(spec, env)

    for spec in REMOTE_SPECS.values():
        registry.register(spec.prefix, factory(spec), check=check(spec))
    registry.register(
        "fallback",
        lambda chain: FallbackProvider([(name, registry.get(name)) for name in parse_chain(chain)]),
        check=lambda: {"ok": True, "detail": "fallback:MODEL,MODEL,… tries the models in order"},
    )


_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _openai_transport(env: Mapping[str, str]) -> str:
    """``http`` (the lean client) unless asked for ``sdk`` or a proxy is configured."""
    chosen = env.get("NEXUS_OPENAI_TRANSPORT", "").strip().lower()
    if chosen in ("http", "sdk"):
        return chosen
    return "sdk" if any(env.get(name) for name in _PROXY_VARS) else "http"
