"""Test helpers that users' tests can use too: fake model providers and reply builders.

::

    from nexus.testing import ScriptedModel, registry_with, text, tool_call

    model = ScriptedModel([tool_call("read_file", path="app.py"), text("Done.")])
    services.models = registry_with(model)          # "scripted:anything" → model
"""

from nexus.testing._models import (
    FunctionModel,
    ScriptedModel,
    ScriptExhausted,
    registry_with,
    response,
    text,
    tool_call,
)

__all__ = [
    "FunctionModel",
    "ScriptExhausted",
    "ScriptedModel",
    "registry_with",
    "response",
    "text",
    "tool_call",
]
