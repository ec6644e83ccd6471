"""The Postman collection (schema v2.1.0), generated from the OpenAPI document.

The collection has one folder per API folder in catalogue order, with the requests of each
folder in the document's path order. The bearer token `{{token}}` is set on the collection,
and public operations (OpenAPI `security: []`) override it with no auth. Request bodies are
built from the examples in the document, so the output depends on the document alone and
two generations are byte-identical.
"""

import json
import re
import uuid
from typing import Any

from wispanel.core.folders import FOLDER_NAMES, FOLDERS, IDEMPOTENT_FOLDERS

POSTMAN_SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
VARIABLES: tuple[tuple[str, str], ...] = (
    ("base_url", "https://YOUR_SERVER:3082"),
    ("token", ""),
    ("username", "john"),
    ("domain", "example.com"),
)
LOGIN_PATH = "/api/v1/auth/login"
LOGOUT_PATH = "/api/v1/auth/logout"

_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_MUTATING_METHODS = frozenset({"post", "put", "patch", "delete"})
_PATH_PARAMETER = re.compile(r"\{([^{}]+)\}")
_MAX_EXAMPLE_DEPTH = 8
_MISSING = object()
# Placeholders for string formats, used when the schema gives no example or default.
_FORMAT_EXAMPLES = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "192.0.2.10",
    "ipv6": "2001:db8::10",
    "password": "change-me",
    "binary": "",
}
# Properties with these names take the value of the Postman variable of the same name.
_VARIABLE_PROPERTIES = frozenset({"username", "domain"})

_LOGIN_BODY = {"username": "{{username}}", "password": "{{password}}"}
# Test script of the login request: keeps the returned session token for later requests.
_LOGIN_SCRIPT = (
    "if (pm.response.code === 200) {",
    "    const body = pm.response.json();",
    "    if (body.token) {",
    '        pm.collectionVariables.set("token", body.token);',
    "    }",
    "}",
)

# Collection scripts. Before a request, an empty `token` is filled by logging in with the
# `username` and `password` variables when a password is set. After a request, a 401 empties
# `token`, so a logout or a revoked session is followed by a fresh login, not by a run of 401s.
_RELOGIN_SCRIPT = (
    'if (!pm.collectionVariables.get("token") && pm.variables.get("password")) {',
    "    pm.sendRequest({",
    '        url: pm.variables.get("base_url") + "' + LOGIN_PATH + '",',
    '        method: "POST",',
    '        header: {"Content-Type": "application/json"},',
    "        body: {",
    '            mode: "raw",',
    "            raw: JSON.stringify({",
    '                username: pm.variables.get("username"),',
    '                password: pm.variables.get("password"),',
    "            }),",
    "        },",
    "    }, function (error, response) {",
    "        if (!error && response.code === 200) {",
    '            pm.collectionVariables.set("token", response.json().token);',
    "        }",
    "    });",
    "}",
)
# Test script of the logout request: the ended session's token is of no further use.
_LOGOUT_SCRIPT = (
    "if (pm.response.code === 200) {",
    '    pm.collectionVariables.set("token", "");',
    "}",
)
_FORGET_REJECTED_TOKEN_SCRIPT = (
    "if (pm.response.code === 401) {",
    '    pm.collectionVariables.set("token", "");',
    "}",
)


def build_postman_collection(document: dict[str, Any]) -> dict[str, Any]:
    """Build the Postman collection of every operation in the OpenAPI document.

    Raises ValueError when an operation's first tag is not a folder name.
    """
    requests_by_folder: dict[str, list[dict[str, Any]]] = {name: [] for name in FOLDER_NAMES}
    untagged: list[str] = []
    for path, path_item in document.get("paths", {}).items():
        for method in _HTTP_METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            tags = operation.get("tags") or [None]
            if tags[0] not in requests_by_folder:
                untagged.append(f"{method.upper()} {path} (tags: {operation.get('tags')})")
                continue
            shared_parameters = path_item.get("parameters", [])
            item = _build_request_item(document, path, method, operation, shared_parameters)
            requests_by_folder[tags[0]].append(item)
    if untagged:
        raise ValueError(
            "Cannot build the Postman collection: these operations have no folder name as their "
            "first tag: " + ", ".join(untagged)
        )

    title = document["info"]["title"]
    folders = [
        {"name": folder.name, "description": folder.description, "item": items}
        for folder in FOLDERS
        if (items := requests_by_folder[folder.name])
    ]
    return {
        "info": {
            # A name-based UUID, so that the collection keeps its id from one build to the next.
            "_postman_id": str(uuid.uuid5(uuid.NAMESPACE_URL, title)),
            "name": title,
            "description": _collection_description(document["info"].get("version", "")),
            "schema": POSTMAN_SCHEMA,
        },
        "item": folders,
        "event": [
            {
                "listen": "prerequest",
                "script": {"type": "text/javascript", "exec": list(_RELOGIN_SCRIPT)},
            },
            {
                "listen": "test",
                "script": {"type": "text/javascript", "exec": list(_FORGET_REJECTED_TOKEN_SCRIPT)},
            },
        ],
        "auth": {
            "type": "bearer",
            "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}],
        },
        "variable": [{"key": key, "value": value, "type": "string"} for key, value in VARIABLES],
    }


def to_json(collection: dict[str, Any]) -> str:
    """Serialise the collection as stable JSON: two-space indent, key order kept, final newline."""
    return json.dumps(collection, indent=2, ensure_ascii=False) + "\n"


def _build_request_item(
    document: dict[str, Any],
    path: str,
    method: str,
    operation: dict[str, Any],
    shared_parameters: list[dict[str, Any]],
) -> dict[str, Any]:
    parameters = [
        resolve_ref(document, parameter)
        for parameter in [*shared_parameters, *operation.get("parameters", [])]
    ]
    headers: list[dict[str, Any]] = []
    if method in _MUTATING_METHODS and operation["tags"][0] in IDEMPOTENT_FOLDERS:
        headers.append({"key": "Idempotency-Key", "value": "{{$guid}}", "type": "text"})
    for parameter in parameters:
        if parameter.get("in") == "header" and parameter.get("name") != "Idempotency-Key":
            headers.append(_build_key_value(document, parameter) | {"type": "text"})

    request: dict[str, Any] = {"method": method.upper(), "header": headers}
    body, json_media_type = _build_body(document, operation)
    if json_media_type is not None:
        headers.append({"key": "Content-Type", "value": json_media_type, "type": "text"})
    if body is not None:
        request["body"] = body
    query = [
        _build_key_value(document, parameter)
        for parameter in parameters
        if parameter.get("in") == "query"
    ]
    request["url"] = _build_url(path, query)
    if operation.get("security") == []:
        request["auth"] = {"type": "noauth"}
    if operation.get("description"):
        request["description"] = operation["description"]

    item: dict[str, Any] = {"name": operation.get("summary") or operation["operationId"]}
    if method == "post" and path.rstrip("/") == LOGIN_PATH:
        # The login body reads the credentials from variables, so newman and Postman users
        # log in by setting `username` and `password` in their environment.
        request["body"]["raw"] = json.dumps(_LOGIN_BODY, indent=2)
        item["event"] = [
            {
                "listen": "test",
                "script": {"type": "text/javascript", "exec": list(_LOGIN_SCRIPT)},
            }
        ]
    if method == "post" and path.rstrip("/") == LOGOUT_PATH:
        item["event"] = [
            {
                "listen": "test",
                "script": {"type": "text/javascript", "exec": list(_LOGOUT_SCRIPT)},
            }
        ]
    item["request"] = request
    item["response"] = []
    return item


def _build_key_value(document: dict[str, Any], parameter: dict[str, Any]) -> dict[str, Any]:
    """Build a Postman query or header entry. Optional parameters start disabled."""
    name = parameter["name"]
    if "example" in parameter:
        value = parameter["example"]
    else:
        value = example_from_schema(document, parameter.get("schema", {}), name=name)
    entry: dict[str, Any] = {"key": name, "value": _format_value(value)}
    if parameter.get("description"):
        entry["description"] = parameter["description"]
    if not parameter.get("required", False):
        entry["disabled"] = True
    return entry


def _format_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _build_url(path: str, query: list[dict[str, Any]]) -> dict[str, Any]:
    """Build a Postman URL object, with path parameters as `{{name}}` variables."""
    templated = _PATH_PARAMETER.sub(r"{{\1}}", path)
    segments = [segment for segment in templated.split("/") if segment]
    raw = "{{base_url}}" + templated
    enabled = [entry for entry in query if not entry.get("disabled")]
    if enabled:
        raw += "?" + "&".join(f"{entry['key']}={entry['value']}" for entry in enabled)
    url: dict[str, Any] = {"raw": raw, "host": ["{{base_url}}"], "path": segments}
    if query:
        url["query"] = query
    return url


def _build_body(
    document: dict[str, Any], operation: dict[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    """Build a raw JSON, form-data or URL-encoded body from the operation's request body.

    Returns the Postman body and, for a JSON body, its media type for the Content-Type header.
    Postman sets the Content-Type of form bodies itself.
    """
    request_body = operation.get("requestBody")
    if request_body is None:
        return None, None
    content: dict[str, Any] = resolve_ref(document, request_body).get("content", {})

    for media_type, media in content.items():
        if media_type == "application/json" or media_type.endswith("+json"):
            example = _media_example(document, media)
            body = {
                "mode": "raw",
                "raw": json.dumps(example, indent=2, ensure_ascii=False),
                "options": {"raw": {"language": "json"}},
            }
            return body, media_type
    if "multipart/form-data" in content:
        fields = _form_fields(document, content["multipart/form-data"])
        return {"mode": "formdata", "formdata": fields}, None
    if "application/x-www-form-urlencoded" in content:
        fields = _form_fields(document, content["application/x-www-form-urlencoded"])
        return {"mode": "urlencoded", "urlencoded": fields}, None
    return None, None


def _media_example(document: dict[str, Any], media: dict[str, Any]) -> Any:
    if "example" in media:
        return media["example"]
    examples = media.get("examples")
    if isinstance(examples, dict) and examples:
        first = resolve_ref(document, next(iter(examples.values())))
        if "value" in first:
            return first["value"]
    return example_from_schema(document, media.get("schema", {}))


def _form_fields(document: dict[str, Any], media: dict[str, Any]) -> list[dict[str, Any]]:
    schema = resolve_ref(document, media.get("schema", {}))
    fields: list[dict[str, Any]] = []
    for name, property_schema in schema.get("properties", {}).items():
        resolved = resolve_ref(document, property_schema)
        items = resolve_ref(document, resolved.get("items", {}))
        if "binary" in (resolved.get("format"), items.get("format")):
            fields.append({"key": name, "type": "file", "src": []})
        else:
            value = example_from_schema(document, resolved, name=name)
            fields.append({"key": name, "value": _format_value(value), "type": "text"})
    return fields


def _collection_description(version: str) -> str:
    idempotent = [name for name in FOLDER_NAMES if name in IDEMPOTENT_FOLDERS]
    idempotent_text = ", ".join(idempotent[:-1]) + f" and {idempotent[-1]}"
    paragraphs = (
        f"WisPanel REST API {version}, generated from the panel's OpenAPI document "
        "(GET /openapi.yaml). Set `base_url` to your server and send the Login request: "
        "its test script stores the returned token in `token`, which every other request "
        "sends as a bearer token.",
        "Authentication: every request except the ones marked No Auth sends "
        "`Authorization: Bearer <credential>`. The credential is a session JWT from "
        "POST /api/v1/auth/login, or an API key (`wsp_` followed by 48 lowercase hex digits) "
        "created under /api/v1/users/{username}/api-keys. API keys are limited to their scopes.",
        "Errors: every error returns one JSON envelope with `success: false`, a "
        "machine-readable `code` (such as VALIDATION_ERROR, NOT_FOUND or RATE_LIMITED), the "
        "same sentence in `error` and `message`, the HTTP `status`, optional `details` and "
        "the `request_id`. Invalid input is 400, never 422.",
        "Pagination is opt-in: without `page` or `per_page` a list returns everything in its "
        "documented shape. With either parameter it returns `{success, data, meta}`, where "
        "meta holds total, per_page, current_page and last_page. `per_page` defaults to 50 "
        "and is at most 200.",
        "Rate limits: responses under /api carry X-RateLimit-Limit, X-RateLimit-Remaining, "
        "X-RateLimit-Reset, RateLimit and RateLimit-Policy. Over the limit the API returns "
        "429 RATE_LIMITED with Retry-After.",
        "Idempotency: a POST, PUT, PATCH or DELETE may send an Idempotency-Key of 1 to 255 "
        "printable ASCII characters. Repeating a finished request with the same key within "
        "24 hours returns the stored response with `Idempotent-Replayed: true`, and nothing "
        "runs again. The same key with a different request is 422 IDEMPOTENCY_KEY_MISMATCH, "
        "and while the first request still runs it is 409 IDEMPOTENCY_KEY_IN_USE. The "
        f"requests in {idempotent_text} send a new key (`{{{{$guid}}}}`) each time.",
        "Webhooks: each delivery is signed with the subscription's secret. "
        "X-WisPanel-Signature is `sha256=` followed by the hex HMAC-SHA256 of the raw body. "
        "X-WisPanel-Signature-V2 is `t=<timestamp>,v1=<hex HMAC-SHA256 of "
        '"<timestamp>.<raw body>">`, so a receiver can also reject old or replayed deliveries.',
    )
    return "\n\n".join(paragraphs)


def resolve_ref(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow local `$ref`s (`#/components/...`) until a node without one is reached."""
    seen: set[str] = set()
    while isinstance(node, dict) and "$ref" in node:
        reference = node["$ref"]
        if not reference.startswith("#/") or reference in seen:
            raise ValueError(
                f"Cannot resolve $ref {reference!r}: only local references (#/...) without "
                "cycles are supported"
            )
        seen.add(reference)
        target: Any = document
        for part in reference[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def example_from_schema(
    document: dict[str, Any], schema: dict[str, Any], *, name: str = "", depth: int = 0
) -> Any:
    """Build an example value for a schema from its example, default, enum or type.

    Objects get every property that is not read-only. A property named `username` or `domain`
    without an example or default uses the Postman variable of that name.
    """
    if depth > _MAX_EXAMPLE_DEPTH:
        return None
    schema = resolve_ref(document, schema)
    value = _declared_example(schema, name)
    if value is _MISSING:
        value = _composed_example(document, schema, name, depth)
    if value is _MISSING:
        value = _typed_example(document, schema, depth)
    return value


def _declared_example(schema: dict[str, Any], name: str) -> Any:
    if "example" in schema:
        return schema["example"]
    if "default" in schema:
        return schema["default"]
    if name in _VARIABLE_PROPERTIES:
        return "{{" + name + "}}"
    enum = [value for value in schema.get("enum", []) if value is not None]
    return enum[0] if enum else _MISSING


def _composed_example(
    document: dict[str, Any], schema: dict[str, Any], name: str, depth: int
) -> Any:
    """Merge the examples of allOf members, or take the first member of oneOf or anyOf."""
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for member in schema["allOf"]:
            value = example_from_schema(document, member, name=name, depth=depth + 1)
            if not isinstance(value, dict):
                return value
            merged.update(value)
        return merged
    for key in ("oneOf", "anyOf"):
        if schema.get(key):
            return example_from_schema(document, schema[key][0], name=name, depth=depth + 1)
    return _MISSING


def _typed_example(document: dict[str, Any], schema: dict[str, Any], depth: int) -> Any:
    schema_type = schema.get("type")
    if schema_type == "object" or "properties" in schema:
        return {
            property_name: example_from_schema(
                document, property_schema, name=property_name, depth=depth + 1
            )
            for property_name, property_schema in schema.get("properties", {}).items()
            if not resolve_ref(document, property_schema).get("readOnly")
        }
    if schema_type == "array":
        return [example_from_schema(document, schema.get("items", {}), depth=depth + 1)]
    if schema_type == "string":
        return _FORMAT_EXAMPLES.get(schema.get("format", ""), "string")
    if schema_type in ("integer", "number"):
        minimum = schema.get("minimum", 0)
        return minimum + 1 if schema.get("exclusiveMinimum") is True else minimum
    if schema_type == "boolean":
        return False
    return None
