"""Field types shared by every area's request and response schemas."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def _no_control_characters(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise ValueError("must not contain control characters such as newlines")
    return value


# A single-line string: control characters (CR, LF, NUL ...) are rejected everywhere.
Line = Annotated[str, AfterValidator(_no_control_characters)]
ShortLine = Annotated[Line, StringConstraints(max_length=255)]


class RequestModel(BaseModel):
    """Base for request bodies: unknown fields are rejected so typos don't pass silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class MessageResponse(BaseModel):
    success: bool = True
    message: str = Field(examples=["Done"])
