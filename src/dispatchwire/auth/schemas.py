import re
from typing import Annotated, Literal

from pydantic import AfterValidator, EmailStr, Field

from dispatchwire.schemas import CamelModel, Text, Timestamp

APPLIANCE_TYPE_PATTERN = r"^[a-z][a-z0-9_]{0,49}$"
ApplianceType = Annotated[Text, Field(pattern=APPLIANCE_TYPE_PATTERN,
                                     examples=["washing_machine"],
                                     description="a lowercase slug such as `washing_machine`")]


def _phone(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"\+?[0-9 ()\-]{5,30}", value):
        raise ValueError("phone must be 5 to 30 digits, spaces, dashes or brackets, "
                         "optionally starting with +")
    return value


Phone = Annotated[Text | None, AfterValidator(_phone)]


class RegisterIn(CamelModel):
    email: EmailStr
    password: str = Field(min_length=8, max_length=256)
    name: Text = Field(min_length=1, max_length=200)
    phone: Phone = None
    role: Literal["client", "master", "admin"]
    specializations: list[ApplianceType] = Field(default_factory=list, max_length=50,
                                                 description="masters only; empty takes any")


class LoginIn(CamelModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)


class UserOut(CamelModel):
    id: int
    email: str
    name: str
    phone: str | None
    role: str
    master_id: int | None = None
    created_at: Timestamp


class TokenOut(CamelModel):
    token: str
    user: UserOut
