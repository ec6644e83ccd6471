"""The Postman collection generated from the OpenAPI document of a small FastAPI app."""

import json
import uuid
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from fastapi import FastAPI, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from wispanel.core.folders import FOLDER_NAMES, IDEMPOTENT_FOLDERS
from wispanel.core.openapi import build_openapi_document
from wispanel.core.postman import (
    POSTMAN_SCHEMA,
    build_postman_collection,
    example_from_schema,
    to_json,
)

MUTATING_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class LoginRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"username": "john", "password": "s3cret-pass"}}
    )

    username: str
    password: str


class Limits(BaseModel):
    max_domains: int = Field(default=-1, examples=[10])
    disk_quota_mb: int = Field(gt=0)


class DomainCreate(BaseModel):
    domain: str
    php_version: Literal["8.2", "8.3"] = "8.3"
    owner: str | None = None
    limits: Limits | None = None


class ZoneCreate(BaseModel):
    domain: str


class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"url": "https://example.com/hook", "events": ["user.*"]}}
    )

    url: str
    events: list[str]


def build_app() -> FastAPI:
    """Build an app with public and protected routes in several folders."""
    app = FastAPI()

    # Registered first on purpose: the collection orders folders by catalogue, not by route.
    @app.post("/api/v1/webhooks", tags=["15 Webhooks"], name="create_webhook", summary="Subscribe")
    def create_webhook(body: WebhookCreate) -> dict[str, str]:
        return {}

    @app.delete(
        "/api/v1/webhooks/{id}", tags=["15 Webhooks"], name="delete_webhook", summary="Unsubscribe"
    )
    def delete_webhook(id: int = Path(gt=0)) -> dict[str, str]:
        return {}

    @app.post(
        "/api/v1/auth/login",
        tags=["01 Auth & Session"],
        name="login",
        summary="Log in",
        openapi_extra={"security": []},
    )
    def login(body: LoginRequest) -> dict[str, str]:
        return {}

    @app.get("/api/v1/auth/me", tags=["01 Auth & Session"], name="me", summary="Who am I")
    def me() -> dict[str, str]:
        return {}

    @app.get(
        "/api/v1/users/{username}", tags=["02 Users & Resellers"], name="get_user", summary="Get"
    )
    def get_user(username: str) -> dict[str, str]:
        return {}

    @app.delete(
        "/api/v1/users/{username}", tags=["02 Users & Resellers"], name="delete_user", summary="Del"
    )
    def delete_user(username: str) -> dict[str, str]:
        return {}

    @app.get("/api/v1/domains", tags=["03 Domains"], name="list_domains", summary="List domains")
    def list_domains(
        page: int | None = Query(default=None, gt=0),
        owner: str = Query(examples=["john"]),
    ) -> list[dict[str, str]]:
        return []

    @app.post("/api/v1/domains", tags=["03 Domains"], name="create_domain", summary="Add domain")
    def create_domain(body: DomainCreate) -> dict[str, str]:
        return {}

    @app.put(
        "/api/v1/domains/{domain}/aliases/{alias}",
        tags=["03 Domains"],
        name="put_alias",
        summary="Put alias",
    )
    def put_alias(domain: str, alias: str) -> dict[str, str]:
        return {}

    @app.post("/api/v1/dns/zones", tags=["04 DNS"], name="create_zone", summary="Create zone")
    def create_zone(body: ZoneCreate) -> dict[str, str]:
        return {}

    @app.get(
        "/openapi.yaml",
        tags=["00 Meta"],
        name="openapi_yaml",
        summary="OpenAPI document",
        openapi_extra={"security": []},
    )
    def openapi_yaml() -> str:
        return ""

    return app


def build_document() -> dict[str, Any]:
    return build_openapi_document(
        build_app(), title="WisPanel API", version="1.2.3", description="Test document."
    )


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


@pytest.fixture(scope="module")
def collection(document: dict[str, Any]) -> dict[str, Any]:
    return build_postman_collection(document)


def requests(collection: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for folder in collection["item"]:
        for item in folder["item"]:
            yield folder["name"], item


def find_item(collection: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [item for _, item in requests(collection) if item["name"] == name]
    assert len(matches) == 1, name
    return matches[0]


def header_values(item: dict[str, Any]) -> dict[str, str]:
    return {header["key"]: header["value"] for header in item["request"]["header"]}


def test_collection_info(collection: dict[str, Any]) -> None:
    info = collection["info"]

    assert info["schema"] == POSTMAN_SCHEMA
    assert info["name"] == "WisPanel API"
    assert info["_postman_id"] == str(uuid.uuid5(uuid.NAMESPACE_URL, "WisPanel API"))
    for topic in ("wsp_", "envelope", "page", "X-RateLimit-Limit", "Idempotency-Key", "HMAC"):
        assert topic in info["description"], topic


def test_folders_in_catalogue_order(collection: dict[str, Any]) -> None:
    names = [folder["name"] for folder in collection["item"]]

    assert names == [
        "01 Auth & Session",
        "02 Users & Resellers",
        "03 Domains",
        "04 DNS",
        "15 Webhooks",
        "00 Meta",
    ]
    assert names == [name for name in FOLDER_NAMES if name in names]
    assert all(folder["description"] for folder in collection["item"])


def test_requests_in_path_order(collection: dict[str, Any]) -> None:
    domains = next(folder for folder in collection["item"] if folder["name"] == "03 Domains")

    assert [item["name"] for item in domains["item"]] == [
        "List domains",
        "Add domain",
        "Put alias",
    ]


def test_variables(collection: dict[str, Any]) -> None:
    variables = {variable["key"]: variable["value"] for variable in collection["variable"]}

    assert variables == {
        "base_url": "https://YOUR_SERVER:3082",
        "token": "",
        "username": "john",
        "domain": "example.com",
    }


def test_collection_bearer_auth(collection: dict[str, Any]) -> None:
    assert collection["auth"] == {
        "type": "bearer",
        "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}],
    }


def test_public_requests_have_noauth(collection: dict[str, Any]) -> None:
    public = {"Log in", "OpenAPI document"}

    for _, item in requests(collection):
        if item["name"] in public:
            assert item["request"]["auth"] == {"type": "noauth"}, item["name"]
        else:
            assert "auth" not in item["request"], item["name"]


def test_login_stores_token(collection: dict[str, Any]) -> None:
    login = find_item(collection, "Log in")

    assert len(login["event"]) == 1
    event = login["event"][0]
    assert event["listen"] == "test"
    script = "\n".join(event["script"]["exec"])
    assert "pm.response.json()" in script
    assert 'pm.collectionVariables.set("token", body.token)' in script
    for _, item in requests(collection):
        if item["name"] != "Log in":
            assert "event" not in item, item["name"]


def test_idempotency_key_in_right_folders(collection: dict[str, Any]) -> None:
    sent_by = set()
    for folder, item in requests(collection):
        method = item["request"]["method"]
        expected = folder in IDEMPOTENT_FOLDERS and method in MUTATING_METHODS
        headers = header_values(item)
        assert ("Idempotency-Key" in headers) == expected, item["name"]
        if expected:
            assert headers["Idempotency-Key"] == "{{$guid}}"
            sent_by.add(item["name"])

    assert sent_by == {"Subscribe", "Unsubscribe", "Del", "Add domain", "Put alias"}


def test_path_parameters_are_variables(collection: dict[str, Any]) -> None:
    user = find_item(collection, "Get")["request"]["url"]
    alias = find_item(collection, "Put alias")["request"]["url"]
    webhook = find_item(collection, "Unsubscribe")["request"]["url"]

    assert user["raw"] == "{{base_url}}/api/v1/users/{{username}}"
    assert user["host"] == ["{{base_url}}"]
    assert user["path"] == ["api", "v1", "users", "{{username}}"]
    assert alias["path"] == ["api", "v1", "domains", "{{domain}}", "aliases", "{{alias}}"]
    assert webhook["raw"] == "{{base_url}}/api/v1/webhooks/{{id}}"
    for _, item in requests(collection):
        assert ":" not in "/".join(item["request"]["url"]["path"]), item["name"]


def test_query_parameters_disabled_unless_required(collection: dict[str, Any]) -> None:
    url = find_item(collection, "List domains")["request"]["url"]
    query = {entry["key"]: entry for entry in url["query"]}

    assert query["page"]["disabled"] is True
    assert "disabled" not in query["owner"]
    assert query["owner"]["value"] == "john"
    assert url["raw"] == "{{base_url}}/api/v1/domains?owner=john"


def test_body_from_schema_example(collection: dict[str, Any]) -> None:
    request = find_item(collection, "Subscribe")["request"]

    assert request["body"]["mode"] == "raw"
    assert request["body"]["options"] == {"raw": {"language": "json"}}
    assert json.loads(request["body"]["raw"]) == {
        "url": "https://example.com/hook",
        "events": ["user.*"],
    }
    assert header_values(find_item(collection, "Subscribe"))["Content-Type"] == "application/json"


def test_body_built_from_properties(collection: dict[str, Any]) -> None:
    body = json.loads(find_item(collection, "Add domain")["request"]["body"]["raw"])

    assert body == {
        "domain": "{{domain}}",
        "php_version": "8.3",
        "owner": "string",
        "limits": {"max_domains": 10, "disk_quota_mb": 1},
    }


def test_requests_without_body(collection: dict[str, Any]) -> None:
    for name in ("Get", "Del", "List domains", "OpenAPI document"):
        item = find_item(collection, name)
        assert "body" not in item["request"], name
        assert "Content-Type" not in header_values(item), name


def test_example_from_schema_resolves_refs() -> None:
    document = {
        "components": {
            "schemas": {
                "Inner": {"type": "object", "properties": {"n": {"type": "integer", "example": 7}}},
                "Outer": {
                    "type": "object",
                    "properties": {
                        "inner": {"$ref": "#/components/schemas/Inner"},
                        "id": {"type": "integer", "readOnly": True},
                        "when": {"type": "string", "format": "date-time"},
                        "tags": {"type": "array", "items": {"type": "string", "enum": ["a"]}},
                    },
                },
            }
        }
    }

    example = example_from_schema(document, {"$ref": "#/components/schemas/Outer"})

    assert example == {"inner": {"n": 7}, "when": "2026-01-01T00:00:00Z", "tags": ["a"]}


def test_multipart_body_becomes_formdata() -> None:
    upload_schema = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "example": "/public_html"},
            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
        },
    }
    document = {
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/api/v1/files/upload": {
                "post": {
                    "tags": ["09 File Manager"],
                    "operationId": "upload",
                    "summary": "Upload",
                    "requestBody": {"content": {"multipart/form-data": {"schema": upload_schema}}},
                    "responses": {},
                }
            }
        },
    }

    request = build_postman_collection(document)["item"][0]["item"][0]["request"]

    assert request["body"] == {
        "mode": "formdata",
        "formdata": [
            {"key": "path", "value": "/public_html", "type": "text"},
            {"key": "files", "type": "file", "src": []},
        ],
    }
    assert request["header"] == []


def test_untagged_operation_raises() -> None:
    document = {
        "info": {"title": "t", "version": "1"},
        "paths": {"/api/v1/x": {"get": {"operationId": "x", "summary": "X", "responses": {}}}},
    }

    with pytest.raises(ValueError, match="GET /api/v1/x"):
        build_postman_collection(document)


def test_generation_is_byte_identical() -> None:
    first = to_json(build_postman_collection(build_document()))
    second = to_json(build_postman_collection(build_document()))

    assert first == second
    assert first.endswith("}\n")
    assert not first.endswith("\n\n")
    assert json.loads(first)["info"]["schema"] == POSTMAN_SCHEMA
