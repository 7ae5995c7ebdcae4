"""Field readers shared by the OpenAI and Anthropic request parsers: each checks one value
and raises :class:`~nexus.gateway.errors.InvalidRequest` naming the field when it is wrong."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import orjson

from nexus.gateway.errors import InvalidRequest

__all__ = [
    "bool_field",
    "fail",
    "int_field",
    "json_object",
    "model_and_messages",
    "need_list",
    "need_str",
    "temperature_field",
]


def fail(message: str, param: str | None) -> NoReturn:
    """Raise InvalidRequest: ``message``, after the field when there is one (``field — …``;
    not ``field: …``, which the secret redactor takes for a pair when the field's name
    holds "token", as ``max_tokens`` does)."""
    raise InvalidRequest(f"{param} — {message}" if param else message, param=param)


def need_str(value: Any, param: str) -> str:
    """``value`` when it is a non-empty string."""
    if not isinstance(value, str) or not value:
        fail("a non-empty string is required", param)
    return value


def need_list(value: Any, param: str) -> list[Any]:
    """``value`` when it is a JSON array."""
    if not isinstance(value, list):
        fail("an array is required", param)
    return value


def json_object(raw: Any, param: str) -> dict[str, Any]:
    """Tool call arguments: an object, or a string holding one (empty means ``{}``)."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if not isinstance(raw, str):
        fail("must be a JSON object, or a string holding one", param)
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        fail("is not valid JSON", param)
    if not isinstance(value, dict):
        fail("must hold a JSON object", param)
    return value


def int_field(body: Mapping[str, Any], names: Sequence[str], *, minimum: int) -> int | None:
    """The first of ``names`` that is set, as an int of at least ``minimum``; else None."""
    for name in names:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            fail(f"must be an integer of at least {minimum}", name)
        return value
    return None


def temperature_field(body: Mapping[str, Any], name: str, maximum: float) -> float | None:
    """A sampling temperature within ``0..maximum``, or None when not set."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(f"must be a number from 0 to {maximum:g}", name)
    if not 0 <= value <= maximum:
        fail(f"must be from 0 to {maximum:g}", name)
    return float(value)


def bool_field(body: Mapping[str, Any], name: str) -> bool:
    """A true-or-false field; not set is false."""
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        fail(f"'{name}' must be true or false", name)
    return bool(value)


def model_and_messages(body: Any) -> tuple[str, list[Any]]:
    """The ``model`` of a request body (a JSON object) and its ``messages``, at least one."""
    if not isinstance(body, Mapping):
        fail("the request body must be a JSON object", None)
    model = need_str(body.get("model"), "model")
    messages = need_list(body.get("messages"), "messages")
    if not messages:
        fail("'messages' must hold at least one message", "messages")
    return model, messages
