"""Structured logs with correlation ids, and the redaction that keeps secrets out of them.

``configure_logging()`` installs one handler on the root logger: plain text by
default, one JSON object per line with ``NEXUS_LOG_FORMAT=json``. Every line
goes through a :class:`Redactor` after it is formatted (message, arguments and
traceback alike), which masks:

- provider keys and tokens by their shape (``sk-…``, ``sk-ant-…``, ``ghp_…``,
  ``xox?-…``, ``AKIA…``), ``Bearer …`` credentials, and ``key=value`` pairs whose
  name says api key, token, secret, password or authorization;
- the values of environment variables whose names contain ``KEY``, ``TOKEN``,
  ``SECRET``, ``PASSWORD`` or ``CREDENTIAL`` (values of 8 characters or more);
- any value registered with :meth:`Redactor.add` (an API key seen by the server).

The correlation id of the request or run being handled lives in a context
variable (:func:`bind_correlation_id`); JSON lines carry it, with ``run_id`` and
``step_key`` when the log call passes them in ``extra``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

__all__ = [
    "MASK",
    "JsonFormatter",
    "Redactor",
    "TextFormatter",
    "bind_correlation_id",
    "configure_logging",
    "current_correlation_id",
    "default_redactor",
    "redact",
]

MASK = "***"

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_MIN_SECRET_LEN = 8
_SHAPES = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),  # OpenAI, Anthropic (sk-ant-…)
    re.compile(r"\b(?:ghp|gho|ghs|ghu|github_pat)_[A-Za-z0-9_]{16,}"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"),
    re.compile(r"\bnx_[0-9a-f]{12}_[A-Za-z0-9_\-]{43}"),  # Nexus API keys (nexus.tenancy.keys)
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{6,}")
_PAIR = re.compile(
    r"(?i)([\"']?[\w\-]*(?:api[_\-]?key|apikey|token|secret|password|passwd|authorization)"
    r"[\w\-]*[\"']?\s*[:=]\s*[\"']?)(?=[^\s\"'&,;}]*[A-Za-z])([^\s\"'&,;}]{4,})"
)
_SECRET_FIELD = re.compile(
    r"(?i)api[_\-]?key|apikey|secret|password|passwd|authorization|credential|"
    r"access[_\-]?token|auth[_\-]?token|^token$"
)

_correlation: ContextVar[str | None] = ContextVar("nexus_correlation_id", default=None)


class Redactor:
    """Masks secrets in text and in JSON-like values."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self._literals: set[str] = set()
        self.refresh(secrets)

    def refresh(self, environ: Mapping[str, str] | None = None) -> None:
        """(Re)read the secret-looking variables of ``environ`` (default: ``os.environ``)."""
        env = os.environ if environ is None else environ
        for name, value in env.items():
            if _SECRET_NAME.search(name) and len(value) >= _MIN_SECRET_LEN:
                self._literals.add(value)
        self._sorted = sorted(self._literals, key=len, reverse=True)

    def add(self, *values: str) -> None:
        """Register known secrets (e.g. an API key presented to the server)."""
        for value in values:
            if value and len(value) >= 4:
                self._literals.add(value)
        self._sorted = sorted(self._literals, key=len, reverse=True)

    def text(self, text: str) -> str:
        for literal in self._sorted:
            if literal in text:
                text = text.replace(literal, MASK)
        for shape in _SHAPES:
            text = shape.sub(MASK, text)
        text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
        return _PAIR.sub(lambda m: m.group(1) + MASK, text)

    def value(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string redacted; secret-named keys masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                if isinstance(key, str) and _SECRET_FIELD.search(key) and isinstance(item, str):
                    out[key] = MASK if item else item
                else:
                    out[key] = self.value(item)
            return out
        if isinstance(value, (list, tuple)):
            return [self.value(item) for item in value]
        return value


_default = Redactor()


def default_redactor() -> Redactor:
    """The process-wide redactor used by the log formatters and the API's error bodies."""
    return _default


def redact(value: Any) -> Any:
    """Redact a string or a JSON-like value with the process-wide redactor."""
    return _default.value(value)


def current_correlation_id() -> str | None:
    return _correlation.get()


@contextmanager
def bind_correlation_id(correlation_id: str | None) -> Iterator[None]:
    """Log lines written inside the block carry ``correlation_id``."""
    token = _correlation.set(correlation_id)
    try:
        yield
    finally:
        _correlation.reset(token)


_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, correlation_id and extras."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or _default

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        cid = getattr(record, "correlation_id", None) or _correlation.get()
        if cid:
            data["correlation_id"] = cid
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in data and not key.startswith("_"):
                data[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return self.redactor.text(json.dumps(self.redactor.value(data), default=str))


class TextFormatter(logging.Formatter):
    """``time level logger [correlation id] message``, redacted."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(cid)s %(message)s")
        self.redactor = redactor or _default

    def format(self, record: logging.LogRecord) -> str:
        cid = getattr(record, "correlation_id", None) or _correlation.get()
        record.cid = f" [{cid}]" if cid else ""
        return self.redactor.text(super().format(record))


_HANDLER_FLAG = "_nexus_handler"


def configure_logging(
    level: str | int = "WARNING", fmt: str | None = None, stream: TextIO | None = None
) -> logging.Handler:
    """Install the Nexus handler on the root logger (replacing an earlier one).

    ``fmt``: ``"json"`` or ``"text"``; default ``NEXUS_LOG_FORMAT`` (else text).
    """
    _default.refresh()
    fmt = (fmt or os.environ.get("NEXUS_LOG_FORMAT") or "text").lower()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    setattr(handler, _HANDLER_FLAG, True)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _HANDLER_FLAG, False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
