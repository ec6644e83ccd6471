"""The OpenAPI 3.0.3 document of a small FastAPI app, checked with openapi-spec-validator."""

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

import pytest
import yaml
from fastapi import Depends, FastAPI, Path, Query
from fastapi.responses import PlainTextResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from openapi_spec_validator import OpenAPIV30SpecValidator, validate
from pydantic import BaseModel, ConfigDict, Field

from wispanel.core import errors
from wispanel.core.folders import FOLDER_NAMES
from wispanel.core.openapi import (
    ERROR_CODES,
    ERROR_RESPONSE_NAMES,
    RATE_LIMIT_HEADERS,
    build_openapi_document,
    to_yaml,
)
from wispanel.core.openapi_schema import SCHEMA_KEYS_30, convert_schema

HTTP_METHODS = ("get", "put", "post", "delete", "patch")


class LoginRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"username": "john", "password": "s3cret-pass"}}
    )

    username: str
    password: str
    totp_code: str | None = None


class Package(BaseModel):
    name: str
    max_domains: int = Field(default=-1, ge=-1)


class UserCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"username": "john", "email": "john@example.com", "password": "pw-123456"}
        }
    )

    username: str = Field(min_length=2)
    email: str
    password: str
    role: Literal["admin", "reseller", "user"] = "user"
    package: Package | None = None
    quota_mb: int = Field(default=1024, gt=0)
    note: str | None = None
    shell: Literal["bash", "sh"] | None = None


class User(BaseModel):
    username: str
    kind: Literal["account"] = "account"
    created_at: datetime
    last_login: datetime | None = None
    package: Package


class WebhookUpdate(BaseModel):
    url: str | None = Field(default=None, examples=["https://example.com/hook"])
    events: list[str] | None = None
    enabled: bool | None = None


class VhostUpdate(BaseModel):
    directives: str


def build_app() -> FastAPI:
    """Build an app with one route for each case the converter must handle."""
    app = FastAPI()
    bearer = HTTPBearer()

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
    def me(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> User:
        raise NotImplementedError

    @app.get("/api/v1/users", tags=["02 Users & Resellers"], name="list_users")
    def list_users(page: int | None = Query(default=None, gt=0)) -> list[User]:
        return []

    @app.post("/api/v1/users", tags=["02 Users & Resellers"], name="create_user", status_code=201)
    def create_user(body: UserCreate) -> User:
        raise NotImplementedError

    @app.get("/api/v1/users/{username}", tags=["02 Users & Resellers"], name="get_user")
    def get_user(username: str) -> User:
        raise NotImplementedError

    @app.put(
        "/api/v1/domains/{domain}/vhost",
        tags=["03 Domains"],
        name="update_vhost",
        responses={502: {"description": "The web server rejected the directives"}, 503: {}},
    )
    def update_vhost(domain: str, body: VhostUpdate) -> dict[str, str]:
        return {}

    @app.patch("/api/v1/webhooks/{id}", tags=["15 Webhooks"], name="update_webhook")
    def update_webhook(body: WebhookUpdate, id: int = Path(gt=0)) -> dict[str, str]:
        return {}

    @app.delete("/api/v1/webhooks/{id}", tags=["15 Webhooks"], name="delete_webhook")
    def delete_webhook(id: int = Path(gt=0)) -> dict[str, str]:
        return {}

    @app.get("/api/v1/system/info", tags=["14 System & Services"], name="system_info")
    def system_info() -> dict[str, str]:
        return {}

    @app.get(
        "/openapi.yaml",
        tags=["00 Meta"],
        name="openapi_yaml",
        response_class=PlainTextResponse,
        openapi_extra={"security": []},
    )
    def openapi_yaml() -> str:
        return ""

    return app


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_openapi_document(
        build_app(), title="WisPanel API", version="1.2.3", description="Test document."
    )


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, path_item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in path_item:
                yield method, path, path_item[method]


def walk_schemas(schema: Any) -> Iterator[dict[str, Any]]:
    """Yield a schema and every schema nested in it."""
    if not isinstance(schema, dict):
        return
    yield schema
    for key in ("allOf", "anyOf", "oneOf"):
        for member in schema.get(key, []):
            yield from walk_schemas(member)
    for key in ("items", "not", "additionalProperties"):
        yield from walk_schemas(schema.get(key))
    for member in schema.get("properties", {}).values():
        yield from walk_schemas(member)


def all_schemas(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for schema in document["components"]["schemas"].values():
        yield from walk_schemas(schema)
    for _, _, operation in operations(document):
        for parameter in operation.get("parameters", []):
            yield from walk_schemas(parameter.get("schema"))
        body = operation.get("requestBody", {})
        for media in body.get("content", {}).values():
            yield from walk_schemas(media.get("schema"))
        for response in operation["responses"].values():
            for media in response.get("content", {}).values():
                yield from walk_schemas(media.get("schema"))


def component_schema_property(document: dict[str, Any], model: str, name: str) -> Any:
    return document["components"]["schemas"][model]["properties"][name]


def test_document_validates_as_openapi_3_0(document: dict[str, Any]) -> None:
    validate(document, cls=OpenAPIV30SpecValidator)
    validate(document)


def test_yaml_round_trip_validates(document: dict[str, Any]) -> None:
    text = to_yaml(document)

    assert text.startswith("openapi: 3.0.3\n")
    assert "&id" not in text
    loaded = yaml.safe_load(text)
    assert loaded == document
    validate(loaded, cls=OpenAPIV30SpecValidator)


def test_document_header(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.0.3"
    assert document["info"] == {
        "title": "WisPanel API",
        "version": "1.2.3",
        "description": "Test document.",
    }
    assert document["servers"] == [{"url": "/"}]
    assert document["security"] == [{"bearerAuth": []}]


def test_tags_in_folder_order(document: dict[str, Any]) -> None:
    names = [tag["name"] for tag in document["tags"]]

    assert names == list(FOLDER_NAMES)
    assert names[-1] == "00 Meta"
    assert all(tag["description"] for tag in document["tags"])


def test_schemas_use_only_3_0_keywords(document: dict[str, Any]) -> None:
    for schema in all_schemas(document):
        unknown = {key for key in schema if key not in SCHEMA_KEYS_30 and not key.startswith("x-")}
        assert not unknown, schema
        assert not isinstance(schema.get("type"), list), schema
        assert schema.get("type") != "null", schema
        for key in ("anyOf", "oneOf"):
            assert {"type": "null"} not in schema.get(key, []), schema
        for key in ("exclusiveMinimum", "exclusiveMaximum"):
            assert isinstance(schema.get(key, False), bool), schema
        if "$ref" in schema:
            assert len(schema) == 1, schema


def test_optional_model_becomes_nullable_all_of(document: dict[str, Any]) -> None:
    package = component_schema_property(document, "UserCreate", "package")

    assert package["nullable"] is True
    assert package["allOf"] == [{"$ref": "#/components/schemas/Package"}]
    assert "anyOf" not in package


def test_optional_scalar_becomes_nullable(document: dict[str, Any]) -> None:
    note = component_schema_property(document, "UserCreate", "note")
    last_login = component_schema_property(document, "User", "last_login")

    assert note["type"] == "string"
    assert note["nullable"] is True
    assert last_login["type"] == "string"
    assert last_login["format"] == "date-time"
    assert last_login["nullable"] is True


def test_optional_literal_enum_lists_null(document: dict[str, Any]) -> None:
    shell = component_schema_property(document, "UserCreate", "shell")

    assert shell["enum"] == ["bash", "sh", None]
    assert shell["nullable"] is True


def test_literal_const_becomes_enum(document: dict[str, Any]) -> None:
    kind = component_schema_property(document, "User", "kind")

    assert kind["enum"] == ["account"]
    assert "const" not in kind


def test_exclusive_minimum_becomes_flag(document: dict[str, Any]) -> None:
    quota = component_schema_property(document, "UserCreate", "quota_mb")
    webhook_id = document["paths"]["/api/v1/webhooks/{id}"]["delete"]["parameters"][0]

    assert quota["minimum"] == 0
    assert quota["exclusiveMinimum"] is True
    assert webhook_id["schema"]["minimum"] == 0
    assert webhook_id["schema"]["exclusiveMinimum"] is True


def test_examples_become_example(document: dict[str, Any]) -> None:
    url = component_schema_property(document, "WebhookUpdate", "url")
    user_create = document["components"]["schemas"]["UserCreate"]

    assert url["example"] == "https://example.com/hook"
    assert "examples" not in url
    assert user_create["example"]["username"] == "john"


def test_list_response_keeps_items(document: dict[str, Any]) -> None:
    response = document["paths"]["/api/v1/users"]["get"]["responses"]["200"]
    schema = response["content"]["application/json"]["schema"]

    assert schema["type"] == "array"
    assert schema["items"] == {"$ref": "#/components/schemas/User"}


def test_fastapi_validation_errors_removed(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]

    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert "HTTPValidationError" not in to_yaml(document)
    for method, path, operation in operations(document):
        if method == "get":
            assert "422" not in operation["responses"], path


def test_error_envelope_schema(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]

    assert set(error["required"]) == {
        "success",
        "code",
        "error",
        "message",
        "status",
        "request_id",
    }
    assert error["properties"]["success"]["enum"] == [False]
    assert error["properties"]["status"]["type"] == "integer"
    assert error["properties"]["details"]["nullable"] is True
    assert set(ERROR_CODES) <= set(error["properties"]["code"]["enum"])


def test_error_codes_cover_panel_errors() -> None:
    raised_codes = {error_class.code for error_class in errors.PanelError.__subclasses__()}

    assert raised_codes <= set(ERROR_CODES)


def test_error_responses_are_components(document: dict[str, Any]) -> None:
    responses = document["components"]["responses"]

    for status_code, name in ERROR_RESPONSE_NAMES.items():
        media = responses[name]["content"]["application/json"]
        assert media["schema"] == {"$ref": "#/components/schemas/Error"}, name
        for example in media["examples"].values():
            assert example["value"]["status"] == status_code, name
    assert "Retry-After" in responses["RateLimited"]["headers"]
    assert set(media_codes(responses["Forbidden"])) == {"FORBIDDEN", "QUOTA_EXCEEDED"}
    assert set(media_codes(responses["Conflict"])) == {"CONFLICT", "IDEMPOTENCY_KEY_IN_USE"}
    assert ERROR_RESPONSE_NAMES[422] == "IdempotencyKeyMismatch"


def media_codes(response: dict[str, Any]) -> list[str]:
    return list(response["content"]["application/json"]["examples"])


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("get", "/api/v1/system/info", {"200", "401", "403", "429", "500"}),
        ("get", "/api/v1/users", {"200", "400", "401", "403", "429", "500"}),
        ("get", "/api/v1/users/{username}", {"200", "400", "401", "403", "404", "429", "500"}),
        ("post", "/api/v1/auth/login", {"200", "400", "409", "422", "429", "500"}),
        (
            "post",
            "/api/v1/users",
            {"201", "400", "401", "403", "409", "422", "429", "500"},
        ),
        (
            "put",
            "/api/v1/domains/{domain}/vhost",
            {"200", "400", "401", "403", "404", "409", "422", "429", "500", "502", "503"},
        ),
        ("get", "/openapi.yaml", {"200", "429", "500"}),
    ],
)
def test_operation_error_statuses(
    document: dict[str, Any], method: str, path: str, statuses: set[str]
) -> None:
    responses = document["paths"][path][method]["responses"]

    assert set(responses) == statuses
    for status in statuses - {"200", "201"}:
        response = responses[status]
        if "$ref" not in response:
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, status


def test_declared_error_keeps_description(document: dict[str, Any]) -> None:
    responses = document["paths"]["/api/v1/domains/{domain}/vhost"]["put"]["responses"]

    assert responses["502"]["description"] == "The web server rejected the directives"
    assert responses["502"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert responses["503"] == {"$ref": "#/components/responses/ServiceUnavailable"}


def test_success_headers_under_api(document: dict[str, Any]) -> None:
    users = document["paths"]["/api/v1/users"]["get"]["responses"]["200"]["headers"]
    created = document["paths"]["/api/v1/users"]["post"]["responses"]["201"]["headers"]
    meta = document["paths"]["/openapi.yaml"]["get"]["responses"]["200"]["headers"]

    for name in ("X-Request-Id", *RATE_LIMIT_HEADERS):
        assert users[name] == {"$ref": f"#/components/headers/{name}"}
    assert "Idempotent-Replayed" not in users
    assert "Idempotent-Replayed" in created
    assert set(meta) == {"X-Request-Id"}
    assert set(RATE_LIMIT_HEADERS) <= set(document["components"]["headers"])


def test_idempotency_key_on_mutating_operations(document: dict[str, Any]) -> None:
    reference = {"$ref": "#/components/parameters/Idempotency-Key"}
    parameter = document["components"]["parameters"]["Idempotency-Key"]

    assert parameter["in"] == "header"
    assert parameter["schema"]["minLength"] == 1
    assert parameter["schema"]["maxLength"] == 255
    for method, path, operation in operations(document):
        sent = reference in operation.get("parameters", [])
        assert sent == (method in {"post", "put", "patch", "delete"}), (method, path)


def test_security_scheme_and_public_routes(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    paths = document["paths"]

    assert schemes == {"bearerAuth": schemes["bearerAuth"]}
    assert schemes["bearerAuth"]["type"] == "http"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert "wsp_" in schemes["bearerAuth"]["description"]
    assert paths["/api/v1/auth/login"]["post"]["security"] == []
    assert paths["/openapi.yaml"]["get"]["security"] == []
    assert paths["/api/v1/auth/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in paths["/api/v1/users"]["get"]


def test_fastapi_bearer_schemes_merged() -> None:
    app = FastAPI()
    session = HTTPBearer(scheme_name="Session")
    api_key = HTTPBearer(scheme_name="ApiKey")
    extra = APIKeyHeader(name="X-Extra", scheme_name="Extra")

    @app.get("/api/v1/auth/me", tags=["01 Auth & Session"], name="me")
    def me(
        first: Annotated[HTTPAuthorizationCredentials, Depends(session)],
        second: Annotated[HTTPAuthorizationCredentials, Depends(api_key)],
        third: Annotated[str, Depends(extra)],
    ) -> dict[str, str]:
        return {}

    document = build_openapi_document(app, title="t", version="1", description="d")

    validate(document, cls=OpenAPIV30SpecValidator)
    operation = document["paths"]["/api/v1/auth/me"]["get"]
    assert operation["security"] == [{"bearerAuth": []}, {"Extra": []}]
    assert set(document["components"]["securitySchemes"]) == {"bearerAuth", "Extra"}


def test_operation_ids_kept(document: dict[str, Any]) -> None:
    operation_ids = [operation["operationId"] for _, _, operation in operations(document)]

    assert len(operation_ids) == len(set(operation_ids))
    assert document["paths"]["/api/v1/auth/login"]["post"]["operationId"].startswith("login")


def test_untagged_route_raises() -> None:
    app = FastAPI()

    @app.get("/api/v1/forgotten", name="forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    with pytest.raises(ValueError, match="GET /api/v1/forgotten"):
        build_openapi_document(app, title="t", version="1", description="d")


@pytest.mark.parametrize("tags", [["Domains"], ["03 Domains", "04 DNS"]])
def test_wrong_tags_raise(tags: list[str]) -> None:
    app = FastAPI()

    @app.get("/api/v1/domains", tags=list(tags), name="list_domains")
    def list_domains() -> dict[str, str]:
        return {}

    with pytest.raises(ValueError, match="GET /api/v1/domains"):
        build_openapi_document(app, title="t", version="1", description="d")


def test_duplicate_operation_id_raises() -> None:
    app = FastAPI()

    @app.get("/api/v1/a", tags=["00 Meta"], operation_id="same")
    def first() -> dict[str, str]:
        return {}

    @app.get("/api/v1/b", tags=["00 Meta"], operation_id="same")
    def second() -> dict[str, str]:
        return {}

    with pytest.warns(UserWarning, match="Duplicate Operation ID"):  # noqa: SIM117
        with pytest.raises(ValueError, match="'same' is also used by GET /api/v1/a"):
            build_openapi_document(app, title="t", version="1", description="d")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"type": ["integer", "null"]}, {"type": "integer", "nullable": True}),
        ({"type": ["string", "integer"]}, {"anyOf": [{"type": "string"}, {"type": "integer"}]}),
        ({"type": "null"}, {"nullable": True, "enum": [None]}),
        ({"const": 3, "type": "integer"}, {"type": "integer", "enum": [3]}),
        (
            {"exclusiveMaximum": 10, "type": "number"},
            {"type": "number", "maximum": 10, "exclusiveMaximum": True},
        ),
        ({"minimum": 5, "exclusiveMinimum": 1}, {"minimum": 5}),
        ({"examples": ["a", "b"], "type": "string"}, {"type": "string", "example": "a"}),
        (
            {"type": "string", "contentMediaType": "application/octet-stream"},
            {"type": "string", "format": "binary"},
        ),
        (
            {"type": "string", "contentMediaType": "image/png", "contentEncoding": "base64"},
            {"type": "string", "format": "byte"},
        ),
        ({"type": "string", "format": "binary"}, {"type": "string", "format": "binary"}),
        (
            {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "integer"}]},
            {"type": "array", "items": {"type": "integer"}},
        ),
        ({"type": "array"}, {"type": "array", "items": {}}),
        (
            {"$schema": "x", "$id": "y", "unevaluatedProperties": False, "dependentRequired": {}},
            {},
        ),
        (
            {"$ref": "#/components/schemas/A", "description": "An A."},
            {"allOf": [{"$ref": "#/components/schemas/A"}], "description": "An A."},
        ),
        (
            {
                "oneOf": [
                    {"$ref": "#/components/schemas/A"},
                    {"$ref": "#/components/schemas/B"},
                    {"type": "null"},
                ]
            },
            {
                "oneOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}],
                "nullable": True,
            },
        ),
        (
            {"anyOf": [{"anyOf": [{"type": "integer"}, {"type": "null"}]}, {"type": "null"}]},
            {"type": "integer", "nullable": True},
        ),
        (
            {"type": "object", "properties": {"const": {"const": 1}}, "required": []},
            {"type": "object", "properties": {"const": {"enum": [1]}}},
        ),
        (
            {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
            {"type": "object", "additionalProperties": {"type": "string", "nullable": True}},
        ),
    ],
)
def test_convert_schema_cases(source: dict[str, Any], expected: dict[str, Any]) -> None:
    assert convert_schema(source) == expected


def test_convert_schema_keeps_input_unchanged() -> None:
    source = {"anyOf": [{"$ref": "#/components/schemas/A"}, {"type": "null"}], "title": "A"}

    converted = convert_schema(source)

    assert converted == {
        "title": "A",
        "nullable": True,
        "allOf": [{"$ref": "#/components/schemas/A"}],
    }
    assert source == {"anyOf": [{"$ref": "#/components/schemas/A"}, {"type": "null"}], "title": "A"}
