"""The echo and validate handlers."""

from __future__ import annotations

import pytest

from nexus.errors import ToolError
from nexus.handlers.echo import EchoHandler
from nexus.handlers.validate import ValidateHandler

from .conftest import MakeCtx

ORDER_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^o-"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"price": {"type": "number", "minimum": 0}},
                "required": ["price"],
            },
        },
        "email": {"type": "string", "format": "email"},
    },
    "required": ["id", "items"],
}


async def test_echo_returns_its_parameters(make_ctx: MakeCtx) -> None:
    result = await EchoHandler().run(make_ctx({"message": "hi", "n": 3}))
    assert result.output == {"message": "hi", "n": 3}
    assert (await EchoHandler().run(make_ctx({}))).output == {}


async def test_valid_value(make_ctx: MakeCtx) -> None:
    value = {"id": "o-1", "items": [{"price": 1.5}], "email": "a@b.example"}
    result = await ValidateHandler().run(make_ctx({"value": value, "schema": ORDER_SCHEMA}))
    assert result.output == {"valid": True}
    assert result.meta == {"schema_draft": "Draft202012Validator"}


async def test_invalid_value_lists_json_paths(make_ctx: MakeCtx) -> None:
    value = {"id": "x-1", "items": [{"price": 2}, {"price": -1}, {}], "email": "not-an-email"}
    with pytest.raises(ToolError, match=r"does not match the schema \(4 problems\)") as info:
        await ValidateHandler().run(make_ctx({"value": value, "schema": ORDER_SCHEMA}))
    assert info.value.retryable is False
    assert [p["path"] for p in info.value.details["problems"]] == [
        "$.email",
        "$.id",
        "$.items[1].price",
        "$.items[2]",
    ]
    message = str(info.value)
    assert "$.items[1].price: -1 is less than the minimum of 0" in message
    assert "$.items[2]: 'price' is a required property" in message


async def test_schema_draft_from_dollar_schema(make_ctx: MakeCtx) -> None:
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "integer"}
    result = await ValidateHandler().run(make_ctx({"value": 3, "schema": schema}))
    assert result.meta == {"schema_draft": "Draft7Validator"}


async def test_invalid_schema(make_ctx: MakeCtx) -> None:
    with pytest.raises(ToolError, match=r"the schema is not valid at \$\.type"):
        await ValidateHandler().run(make_ctx({"value": 1, "schema": {"type": "nonsense"}}))


async def test_missing_parameters(make_ctx: MakeCtx) -> None:
    with pytest.raises(ToolError, match="'schema' is a required property"):
        await ValidateHandler().run(make_ctx({"value": 1}))
