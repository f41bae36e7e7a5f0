"""The base of every JSON schema: camelCase on the wire, snake_case in Python."""

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

from dispatchwire.clock import isoformat

__all__ = ["CamelModel", "Timestamp"]

# `2025-12-23T10:45:00.000Z`, as the seed and the WebSocket events write times.
Timestamp = Annotated[datetime, PlainSerializer(isoformat, return_type=str, when_used="json")]


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True,
                              from_attributes=True, str_strip_whitespace=True)
