"""The base of every JSON schema: camelCase on the wire, snake_case in Python."""

from datetime import datetime
from typing import Annotated

from fastapi import Path
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
)
from pydantic.alias_generators import to_camel

from dispatchwire.clock import isoformat

__all__ = ["CamelModel", "Id", "IdPath", "Text", "Timestamp"]

MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


# Free text, trimmed; passwords are plain `str`: every character of a password counts.
Text = Annotated[str, StringConstraints(strip_whitespace=True)]

# `2025-12-23T10:45:00.000Z`, as the seed and the WebSocket events write times.
Timestamp = Annotated[datetime, PlainSerializer(isoformat, return_type=str, when_used="json")]


class CamelModel(BaseModel):
    # Strict: `true` or "1" is not an id, `true` is not a latitude.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        """PostgreSQL cannot store U+0000 in text; refuse it on every database alike."""
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(text, str) and "\x00" in text for text in texts):
            raise ValueError("text must not contain the NUL character (U+0000)")
        return value
