"""The app's routes as test cases: every HTTP operation (from the OpenAPI document) and every
WebSocket route, with minimal valid bodies built from the request schemas."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

PARAM = re.compile(r"\{([^}]+)\}")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    body_schema: dict[str, Any] | None

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)

    def url(self, values: dict[str, str]) -> str:
        return PARAM.sub(lambda m: values[m.group(1)], self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def http_operations(app: FastAPI) -> list[Operation]:
    doc = app.openapi()
    ops: list[Operation] = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            content = op.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            ops.append(Operation(method.upper(), path, schema))
    return ops


def websocket_paths(app: FastAPI) -> list[str]:
    return [c.path for c in iter_route_contexts(app.routes) if c.methods is None]


def minimal_body(app: FastAPI, schema: dict[str, Any] | None) -> Any:
    """The smallest instance of ``schema``: required properties only, simplest values."""
    if schema is None:
        return None
    components = app.openapi().get("components", {}).get("schemas", {})
    return _minimal(schema, components)


def _minimal(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return _minimal(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return _minimal(options[0], components)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _minimal(props[name], components) for name in schema.get("required", [])}
    if kind == "array":
        return []
    if kind == "string":
        return "x" * max(1, int(schema.get("minLength", 1)))
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    return None
