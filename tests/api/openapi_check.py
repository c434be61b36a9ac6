"""Checks of responses against an OpenAPI document (our generated one): JSON Schema 2020-12."""

from typing import Any

import jsonschema  # type: ignore[import-untyped]


def response_schema(doc: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    operation = doc["paths"][path][method.lower()]
    answer = operation["responses"][str(status)]
    return dict(answer["content"]["application/json"]["schema"])


def validate_response(
    doc: dict[str, Any], path: str, method: str, status: int, body: object
) -> None:
    """`body` is what the document promises for this path, method and status."""
    schema = {**response_schema(doc, path, method, status), "components": doc["components"]}
    jsonschema.Draft202012Validator(schema).validate(body)
