"""The built-in tool handlers, one of each, ready to register."""

from __future__ import annotations

from nexus.handlers.base import StepHandler
from nexus.handlers.echo import EchoHandler
from nexus.handlers.file import FileHandler
from nexus.handlers.healthcheck import HealthcheckHandler
from nexus.handlers.http import HttpHandler
from nexus.handlers.pytest_runner import PytestHandler
from nexus.handlers.shell import ShellHandler
from nexus.handlers.validate import ValidateHandler

__all__ = [
    "EchoHandler",
    "FileHandler",
    "HealthcheckHandler",
    "HttpHandler",
    "PytestHandler",
    "ShellHandler",
    "ValidateHandler",
    "builtin_handlers",
]


def builtin_handlers() -> list[StepHandler]:
    """A fresh instance of each built-in tool handler: echo, validate, healthcheck, shell,
    pytest, file and http (the agent and human handlers live elsewhere)."""
    return [
        EchoHandler(),
        ValidateHandler(),
        HealthcheckHandler(),
        ShellHandler(),
        PytestHandler(),
        FileHandler(),
        HttpHandler(),
    ]
