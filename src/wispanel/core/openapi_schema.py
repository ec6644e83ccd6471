"""Conversion of OpenAPI 3.1 (JSON Schema 2020-12) schemas to OpenAPI 3.0.3 schema objects.

FastAPI and Pydantic 2 emit JSON Schema 2020-12. OpenAPI 3.0 uses an extended subset of an
older draft (Wright draft 00). So null types become `nullable`, `const` becomes a one-value
`enum`, numeric exclusive bounds become boolean flags and keywords that 3.0 lacks are dropped.
"""

import json
from typing import Any

# The fields of the OpenAPI 3.0.3 Schema Object. convert_schema drops every other key except `x-`
# extensions.
SCHEMA_KEYS_30: frozenset[str] = frozenset(
    {
        "$ref",
        "title",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxProperties",
        "minProperties",
        "required",
        "enum",
        "type",
        "allOf",
        "oneOf",
        "anyOf",
        "not",
        "items",
        "properties",
        "additionalProperties",
        "description",
        "format",
        "default",
        "nullable",
        "discriminator",
        "readOnly",
        "writeOnly",
        "xml",
        "externalDocs",
        "example",
        "deprecated",
    }
)

_COMBINATOR_KEYS = ("allOf", "anyOf", "oneOf")
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_TEXT_MEDIA_TYPES = ("text/", "application/json")


def convert_schema(schema: Any) -> dict[str, Any]:
    """Convert one JSON Schema 2020-12 schema, and every schema inside it, to OpenAPI 3.0."""
    if schema is True or schema is None:
        return {}
    if schema is False:
        return {"not": {}}
    source = _split_type_list(dict(schema))
    lifted = _lift_null_members(source)
    if lifted is not None:
        # The merged member may itself hold null types or combinators, so convert again.
        return convert_schema(lifted)

    converted: dict[str, Any] = {}
    for key, value in source.items():
        if key in _COMBINATOR_KEYS:
            converted[key] = [convert_schema(member) for member in value]
        elif key in ("items", "not"):
            if value is not False:
                converted[key] = convert_schema(value)
        elif key == "additionalProperties":
            converted[key] = value if isinstance(value, bool) else convert_schema(value)
        elif key == "properties":
            converted[key] = {name: convert_schema(member) for name, member in value.items()}
        elif key in SCHEMA_KEYS_30 or key.startswith("x-"):
            converted[key] = value

    _convert_const(source, converted)
    _convert_exclusive_bounds(source, converted)
    _convert_examples(source, converted)
    _convert_content_media_type(source, converted)
    _convert_prefix_items(source, converted)
    _finish_3_0_rules(converted)
    return _wrap_ref_with_siblings(converted)


def _is_null_schema(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null" and len(schema) == 1


def _split_type_list(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace `type: [X, "null"]` by `type: X, nullable: true` and several types by anyOf."""
    types = schema.get("type")
    if types == "null":
        del schema["type"]
        schema["nullable"] = True
        schema["enum"] = [None]
        return schema
    if not isinstance(types, list):
        return schema

    named = [name for name in types if name != "null"]
    if len(named) < len(types):
        schema["nullable"] = True
    if len(named) == 1:
        schema["type"] = named[0]
    else:
        del schema["type"]
        if named:
            schema["anyOf"] = [{"type": name} for name in named]
    return schema


def _lift_null_members(schema: dict[str, Any]) -> dict[str, Any] | None:
    """Remove `{"type": "null"}` from anyOf or oneOf and mark the schema nullable instead.

    Returns the rewritten schema, or None when no combinator had a null member. A single
    remaining `$ref` goes into `allOf`, because OpenAPI 3.0 ignores the siblings of `$ref`.
    """
    for key in ("anyOf", "oneOf"):
        members = schema.get(key)
        if not isinstance(members, list) or not any(_is_null_schema(m) for m in members):
            continue

        remaining = [member for member in members if not _is_null_schema(member)]
        result = {name: value for name, value in schema.items() if name != key}
        result["nullable"] = True
        if not remaining:
            result["enum"] = [None]
        elif len(remaining) > 1:
            result[key] = remaining
        elif isinstance(remaining[0], dict) and "$ref" in remaining[0]:
            result["allOf"] = [remaining[0], *result.get("allOf", [])]
        elif isinstance(remaining[0], dict):
            # Field-level keys (title, description, default) win over the member's.
            result = {**remaining[0], **result}
        return result
    return None


def _convert_const(source: dict[str, Any], converted: dict[str, Any]) -> None:
    if "const" in source and "enum" not in converted:
        converted["enum"] = [source["const"]]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _convert_exclusive_bounds(source: dict[str, Any], converted: dict[str, Any]) -> None:
    """Turn numeric exclusive bounds into `minimum`/`maximum` with boolean flags."""
    low = source.get("exclusiveMinimum")
    if _is_number(low):
        if "minimum" in converted and converted["minimum"] > low:
            del converted["exclusiveMinimum"]
        else:
            converted["minimum"] = low
            converted["exclusiveMinimum"] = True

    high = source.get("exclusiveMaximum")
    if _is_number(high):
        if "maximum" in converted and converted["maximum"] < high:
            del converted["exclusiveMaximum"]
        else:
            converted["maximum"] = high
            converted["exclusiveMaximum"] = True


def _convert_examples(source: dict[str, Any], converted: dict[str, Any]) -> None:
    examples = source.get("examples")
    if isinstance(examples, list) and examples and "example" not in converted:
        converted["example"] = examples[0]


def _convert_content_media_type(source: dict[str, Any], converted: dict[str, Any]) -> None:
    """Describe encoded strings with the 3.0 formats `byte` (base64) and `binary` (raw bytes)."""
    if converted.get("type") != "string" or "format" in converted:
        return
    if source.get("contentEncoding") == "base64":
        converted["format"] = "byte"
        return
    media_type = source.get("contentMediaType")
    if isinstance(media_type, str) and not media_type.startswith(_TEXT_MEDIA_TYPES):
        converted["format"] = "binary"


def _convert_prefix_items(source: dict[str, Any], converted: dict[str, Any]) -> None:
    """Replace tuple validation by `items` that accepts any of the tuple's member schemas."""
    prefix = source.get("prefixItems")
    if not isinstance(prefix, list):
        return
    candidates = [convert_schema(member) for member in prefix]
    if "items" in converted:
        candidates.append(converted["items"])

    unique: dict[str, dict[str, Any]] = {}
    for candidate in candidates:
        unique.setdefault(json.dumps(candidate, sort_keys=True), candidate)
    members = list(unique.values())
    converted["items"] = members[0] if len(members) == 1 else {"anyOf": members}


def _finish_3_0_rules(converted: dict[str, Any]) -> None:
    """Apply the 3.0 rules that the 3.1 input need not follow."""
    if converted.get("type") == "array" and "items" not in converted:
        converted["items"] = {}
    if converted.get("required") == []:
        del converted["required"]
    if converted.get("type") == "integer":
        # Pydantic writes the bounds of `int` fields as floats (gt=0 gives 0.0).
        for key in ("minimum", "maximum", "multipleOf"):
            bound = converted.get(key)
            if isinstance(bound, float) and bound.is_integer():
                converted[key] = int(bound)
    enum = converted.get("enum")
    # With an enum, `nullable: true` alone does not admit null (Swagger's guide to enums), so the
    # enum lists null too.
    if isinstance(enum, list):
        if None in enum:
            converted["nullable"] = True
        elif converted.get("nullable") is True:
            converted["enum"] = [*enum, None]


def _wrap_ref_with_siblings(converted: dict[str, Any]) -> dict[str, Any]:
    """Move a `$ref` that has sibling keys into `allOf`, because 3.0 ignores those siblings."""
    if "$ref" not in converted or len(converted) == 1:
        return converted
    rest = {key: value for key, value in converted.items() if key != "$ref"}
    all_of = [{"$ref": converted["$ref"]}, *rest.pop("allOf", [])]
    return {"allOf": all_of, **rest}


def convert_content(content: dict[str, Any]) -> dict[str, Any]:
    """Convert the schemas of a media type map (the `content` of a body or response)."""
    converted: dict[str, Any] = {}
    for media_type, original in content.items():
        media = dict(original)
        if "schema" in media:
            media["schema"] = convert_schema(media["schema"])
        item_schema = media.pop("itemSchema", None)
        if item_schema is not None:
            # OpenAPI 3.0 cannot describe the items of a stream (JSON Lines, server-sent
            # events), so the stream is a string and the item schema an extension.
            media.setdefault("schema", {"type": "string"})
            media["x-item-schema"] = convert_schema(item_schema)
        converted[media_type] = media
    return converted


def _convert_parameter_or_header(parameter: dict[str, Any]) -> dict[str, Any]:
    converted = dict(parameter)
    if "schema" in converted:
        converted["schema"] = convert_schema(converted["schema"])
    if "content" in converted:
        converted["content"] = convert_content(converted["content"])
    return converted


def _convert_response(response: dict[str, Any]) -> dict[str, Any]:
    converted = dict(response)
    if "content" in converted:
        converted["content"] = convert_content(converted["content"])
    if "headers" in converted:
        converted["headers"] = {
            name: _convert_parameter_or_header(header)
            for name, header in converted["headers"].items()
        }
    return converted


def convert_operation(operation: dict[str, Any]) -> dict[str, Any]:
    """Convert every schema of an operation: parameters, body, responses and callbacks."""
    converted = dict(operation)
    if "parameters" in converted:
        converted["parameters"] = [
            _convert_parameter_or_header(parameter) for parameter in converted["parameters"]
        ]
    body = converted.get("requestBody")
    if isinstance(body, dict) and "content" in body:
        converted["requestBody"] = {**body, "content": convert_content(body["content"])}
    if "responses" in converted:
        converted["responses"] = {
            status: _convert_response(response)
            for status, response in converted["responses"].items()
        }
    if "callbacks" in converted:
        converted["callbacks"] = {
            name: {expression: convert_path_item(item) for expression, item in callback.items()}
            for name, callback in converted["callbacks"].items()
        }
    return converted


def convert_path_item(path_item: dict[str, Any]) -> dict[str, Any]:
    """Convert the operations and shared parameters of one path."""
    converted: dict[str, Any] = {}
    for key, value in path_item.items():
        if key in _HTTP_METHODS:
            converted[key] = convert_operation(value)
        elif key == "parameters":
            converted[key] = [_convert_parameter_or_header(parameter) for parameter in value]
        else:
            converted[key] = value
    return converted


def convert_components(components: dict[str, Any]) -> dict[str, Any]:
    """Convert the schemas, parameters, headers, responses and request bodies of components."""
    converted = dict(components)
    converted.pop("pathItems", None)  # 3.1 only
    sections = {
        "schemas": convert_schema,
        "parameters": _convert_parameter_or_header,
        "headers": _convert_parameter_or_header,
        "responses": _convert_response,
    }
    for section, convert in sections.items():
        if section in converted:
            converted[section] = {name: convert(item) for name, item in converted[section].items()}
    if "requestBodies" in converted:
        converted["requestBodies"] = {
            name: {**body, "content": convert_content(body.get("content", {}))}
            for name, body in converted["requestBodies"].items()
        }
    return converted
