
from pydantic import Field

from dispatchwire.auth.schemas import ApplianceType
from dispatchwire.schemas import CamelModel, Timestamp


class MasterOut(CamelModel):
    id: int
    user_id: int
    name: str
    email: str
    phone: str | None
    specializations: list[str]
    on_shift: bool
    lat: float | None
    lon: float | None
    idle_since: Timestamp | None
    approved: bool = Field(description="an admin approved him: he may start a shift")
    active: bool = Field(description="false once an admin deactivated him")


class MasterPatch(CamelModel):
    specializations: list[ApplianceType] | None = Field(None, max_length=50,
                                                        description="empty takes any type")
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)


class ShiftOut(CamelModel):
    on_shift: bool


class ApplianceTypeOut(CamelModel):
    """A type that approved, active masters declare."""

    type: str
    masters: int = Field(description="approved, active masters who declare it")
    on_shift: int = Field(description="of them, on shift now")
