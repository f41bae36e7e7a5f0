"""An operator's password reset (`dispatchwire set-password`)."""

import logging
from typing import Annotated

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select

from dispatchwire.auth.models import User
from dispatchwire.auth.schemas import RegisterIn
from dispatchwire.context import Context
from dispatchwire.errors import InvalidInput, NotFound

__all__ = ["set_password"]

log = logging.getLogger(__name__)

# The rule registration applies, so that no reset makes a weaker password than a sign-up may.
_PASSWORD = TypeAdapter(Annotated[str, *RegisterIn.model_fields["password"].metadata])


async def set_password(ctx: Context, *, email: str, password: str) -> User:
    """Give the user with `email` a new password; NotFound if there is none."""
    try:
        _PASSWORD.validate_python(password)
    except ValidationError as exc:
        raise InvalidInput(f"password: {exc.errors()[0]['msg']}") from None
    password_hash = await ctx.passwords.hash(password)
    async with ctx.db.transaction() as uow:
        user = await uow.session.scalar(select(User).where(User.email == email.lower()))
        if user is None:
            raise NotFound(f"no user has the email {email}")
        user.password_hash = password_hash
    log.info("user %s was given a new password by an operator", user.id)
    return user
