"""An offer's shapes: the `new_assignment` event's, written out for speed, is the model's."""

from datetime import UTC, datetime

from dispatchwire.dispatch.eligibility import OrderFacts
from dispatchwire.dispatch.schemas import OfferOut


def test_the_event_payload_is_the_offer_as_the_model_shows_it() -> None:
    order = OrderFacts(7, "fridge", "It hums & leaks \"badly\"", "Lenina 1, кв. 5", 55.7, 37.6)
    created = datetime(2026, 12, 5, 10, 45, 0, 123000, tzinfo=UTC)
    expires = datetime(2026, 12, 5, 10, 50, 0, 123000, tzinfo=UTC)
    model = OfferOut.of(offer_id=42, order=order, created_at=created, expires_at=expires)
    shown = model.model_dump(mode="json", by_alias=True,
                             exclude={"delivered_at", "delivered_via"})
    payload = OfferOut.event_payload(offer_id=42, order=order, created_at=created,
                                     expires_at=expires)
    assert payload == {"assignment": shown}
    assert list(payload["assignment"]) == list(shown)  # the same keys in the same order
    assert payload["assignment"]["createdAt"] == "2026-12-05T10:45:00.123Z"
    assert payload["assignment"]["expiresAt"] == "2026-12-05T10:50:00.123Z"
