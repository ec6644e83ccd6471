"""The OpenAPI document, served without authentication."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from wispanel.core.openapi import to_yaml

router = APIRouter(tags=["00 Meta"])
PUBLIC: dict[str, Any] = {"security": []}


def _document(request: Request) -> dict[str, Any]:
    document: dict[str, Any] = request.app.state.openapi_document()
    return document


@router.get(
    "/openapi.yaml",
    operation_id="getOpenApiYaml",
    summary="OpenAPI 3.0 document (YAML), no authentication",
    response_class=Response,
    responses={200: {"content": {"application/yaml": {"schema": {"type": "string"}}}}},
    openapi_extra=PUBLIC,
)
async def openapi_yaml(request: Request) -> Response:
    return Response(to_yaml(_document(request)), media_type="application/yaml")


@router.get(
    "/openapi.json",
    operation_id="getOpenApiJson",
    summary="OpenAPI 3.0 document (JSON), no authentication",
    response_class=Response,
    responses={200: {"content": {"application/json": {"schema": {"type": "object"}}}}},
    openapi_extra=PUBLIC,
)
async def openapi_json(request: Request) -> Response:
    return Response(orjson.dumps(_document(request)), media_type="application/json")
