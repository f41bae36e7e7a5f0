"""The shapes of a chat message on the wire."""

from typing import Annotated

from pydantic import Field, StringConstraints

from dispatchwire.schemas import CamelModel, Text, Timestamp

__all__ = ["MAX_PAGE", "MAX_TEXT", "MessageIn", "MessageOut"]

MAX_TEXT = 2000  # characters, after trimming
MAX_PAGE = 100  # messages a page

ClientMessageId = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class MessageIn(CamelModel):
    text: Text = Field(min_length=1, max_length=MAX_TEXT,
                       description="1-2000 characters once trimmed; no NUL")
    client_message_id: ClientMessageId | None = Field(
        None, description="the author's own id for this message: sending it again (a retry) "
        "returns the first message, never a second one")


class MessageOut(CamelModel):
    id: int
    order_id: int
    author_id: int = Field(description="the author's userId (for a master too)")
    author_role: str = Field(description="client, master or admin")
    text: str
    created_at: Timestamp
    client_message_id: str | None
