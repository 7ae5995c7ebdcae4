"""The ``echo`` handler: returns its parameters, for trying plans and expressions out."""

from __future__ import annotations

from typing import Any

from nexus.handlers.base import BaseHandler, StepContext, StepResult
from nexus.handlers.common import check_params

__all__ = ["EchoHandler"]


class EchoHandler(BaseHandler):
    """Output = the step's ``with`` parameters, as resolved (``{"message": …}`` or anything).

    The one built-in that accepts any parameters: echoing them is its job.
    """

    name = "echo"
    description = "Return the given parameters as the output (for testing plans)."
    params_schema: dict[str, Any] = {  # noqa: RUF012
        "type": "object",
        "properties": {"message": {"description": "Anything; returned as given."}},
        "required": [],
        "additionalProperties": True,
    }

    async def run(self, ctx: StepContext) -> StepResult:
        params = check_params(self.name, self.params_schema, ctx.params)
        return StepResult(output=params, meta={})
