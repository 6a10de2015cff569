"""The admin API's OpenAPI 3.1 document, built from the route table and the pydantic models."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from vallum.admin.routes import Route

__all__ = ["openapi_document"]


def openapi_document(routes: Sequence[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "operationId": f"{route.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', route.path)}",
            "responses": {
                str(code): {"description": text} for code, text in route.responses.items()
            },
        }
        parameters = [
            {
                "name": p,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$"},
            }
            for p in re.findall(r"\{(\w+)\}", route.path)
        ]
        parameters += _query_parameters(route.query, schemas)
        if parameters:
            operation["parameters"] = parameters
            operation["responses"]["400"] = {"description": "Invalid parameters or body."}
        if route.body is not None:
            schema = route.body.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[route.body.__name__] = schema
            ref = {"$ref": f"#/components/schemas/{route.body.__name__}"}
            operation["requestBody"] = {
                "required": route.body_required,
                "content": {"application/json": {"schema": ref}},
            }
            operation["responses"]["400"] = {"description": "Invalid parameters or body."}
        if route.auth:
            operation["security"] = [{"adminToken": []}]
            operation["responses"]["401"] = {"description": "Missing or invalid admin token."}
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Vallum admin API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
        },
    }


def _query_parameters(model: type[BaseModel], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    """One OpenAPI query parameter per field of the route's query model."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    required = set(schema.get("required", ()))
    out = []
    for name, field in schema.get("properties", {}).items():
        field = _not_null(dict(field))
        description = field.pop("description", "")
        field.pop("title", None)
        out.append(
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "description": description,
                "schema": field,
            }
        )
    return out


def _not_null(field: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string, never JSON null: drop the null branch."""
    branches = [b for b in field.pop("anyOf", ()) if b != {"type": "null"}]
    if len(branches) == 1:
        field.update(branches[0])
    elif branches:
        field["anyOf"] = branches
    if field.get("default", 0) is None:
        del field["default"]
    return field
