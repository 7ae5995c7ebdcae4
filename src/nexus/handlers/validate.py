"""The ``validate`` handler: JSON Schema validation of a value, as a step."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from nexus.errors import ToolError
from nexus.handlers.base import BaseHandler, StepContext, StepResult
from nexus.handlers.common import check_params, fatal

__all__ = ["ValidateHandler"]

_MAX_LISTED = 20


class ValidateHandler(BaseHandler):
    """Check ``value`` against the JSON Schema ``schema``; output ``{"valid": true}``.

    The schema's ``$schema`` picks the draft (2020-12 when absent) and ``format``
    is checked. A value that does not validate is a :class:`ToolError` that is
    not retried (the same value fails the same way), listing every problem with
    its JSON path, e.g. ``$.items[2].price: -1 is less than the minimum of 0``.
    """

    name = "validate"
    description = "Validate a value against a JSON Schema; fails with the JSON path of each error."
    params_schema: dict[str, Any] = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "value": {"description": "The value to check (any JSON value)."},
            "schema": {"type": ["object", "boolean"], "description": "A JSON Schema."},
        },
        "required": ["value", "schema"],
        "additionalProperties": False,
    }

    async def run(self, ctx: StepContext) -> StepResult:
        params = check_params(self.name, self.params_schema, ctx.params)
        schema = params["schema"]
        cls = validator_for(schema, default=Draft202012Validator)
        try:
            cls.check_schema(schema)
        except SchemaError as exc:
            raise fatal(
                ToolError(f"validate: the schema is not valid at {exc.json_path}: {exc.message}")
            ) from exc
        validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
        errors = sorted(
            validator.iter_errors(params["value"]),
            key=lambda e: [str(p) for p in e.absolute_path],
        )
        if errors:
            problems = [{"path": e.json_path, "message": e.message} for e in errors]
            listed = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:_MAX_LISTED])
            more = len(problems) - _MAX_LISTED
            if more > 0:
                listed += f"; … and {more} more"
            raise fatal(
                ToolError(
                    f"validate: value does not match the schema ({len(problems)} "
                    f"problem{'s' if len(problems) != 1 else ''}): {listed}",
                    problems=problems,
                )
            )
        return StepResult(output={"valid": True}, meta={"schema_draft": cls.__name__})
