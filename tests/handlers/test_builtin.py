"""The set of built-in handlers and their parameter schemas."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from nexus.handlers.base import HandlerRegistry, StepHandler
from nexus.handlers.builtin import builtin_handlers


def test_one_of_each() -> None:
    handlers = builtin_handlers()
    assert [h.name for h in handlers] == [
        "echo",
        "validate",
        "healthcheck",
        "shell",
        "pytest",
        "file",
        "http",
    ]
    assert all(isinstance(h, StepHandler) for h in handlers)
    assert all(h.description for h in handlers)
    registry = HandlerRegistry(handlers)
    assert registry.get("tool", "pytest") is handlers[4]
    assert registry.find("agent", "pytest") is None


@pytest.mark.parametrize("handler", builtin_handlers(), ids=lambda h: h.name)
def test_params_schema_is_strict_json_schema(handler: StepHandler) -> None:
    schema = handler.params_schema
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert "required" in schema
    if handler.name != "echo":  # echo returns whatever it is given
        assert schema["additionalProperties"] is False
        assert not Draft202012Validator(schema).is_valid({"unknown_parameter": 1})


def test_required_parameters() -> None:
    required = {h.name: h.params_schema["required"] for h in builtin_handlers()}
    assert required == {
        "echo": [],
        "validate": ["value", "schema"],
        "healthcheck": [],
        "shell": ["command"],
        "pytest": [],
        "file": ["op", "path"],
        "http": ["url"],
    }
