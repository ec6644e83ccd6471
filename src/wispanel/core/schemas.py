"""Field types shared by every area's request and response schemas."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def _no_control_characters(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise ValueError("must not contain control characters such as newlines")
    return value


# A single-line string: control characters (CR, LF, NUL ...) are rejected everywhere.
Line = Annotated[str, AfterValidator(_no_control_characters)]
ShortLine = Annotated[Line, StringConstraints(max_length=255)]


def documented_as_required(*names: str) -> Callable[[dict[str, Any]], None]:
    """Show fields as required and not null in the schema, though the model lets them be absent.

    The service checks those fields itself, so a request without one gets a message that
    names it ("Domain is required") instead of the framework's generic one.
    """

    def edit(schema: dict[str, Any]) -> None:
        required: list[str] = schema.setdefault("required", [])
        for name in names:
            field = schema["properties"][name]
            options = field.pop("anyOf", [])
            field.update(next((o for o in options if o.get("type") != "null"), {}))
            field.pop("default", None)
            if name not in required:
                required.append(name)

    return edit


class RequestModel(BaseModel):
    """Base for request bodies: unknown fields are rejected so typos don't pass silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class MessageResponse(BaseModel):
    success: bool = True
    message: str = Field(examples=["Done"])
