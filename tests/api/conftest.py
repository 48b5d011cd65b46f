import pytest

from tests.shipping.conftest import carriers  # noqa: F401 - fixtures shared with shipping tests


def order_payload(external_id: str = "WEB-1001", **overrides) -> dict:
    """A valid order as a storefront sends it: two lines to New York, paid by test card."""
    payload = {
        "external_id": external_id,
        "customer": {"name": "Zoë Álvarez", "email": "Zoe.Alvarez@Example.com", "phone": "+1 212 555 0100"},
        "shipping_address": {
            "name": "Zoë Álvarez",
            "line1": "350 5th Ave",
            "city": "New York",
            "state": "NY",
            "postal_code": "10118",
            "country": "US",
        },
        "lines": [
            {"sku": "TEE-1", "quantity": 2, "unit_price": "24.00"},
            {"sku": "MUG-1", "quantity": 1, "unit_price": "18.50"},
        ],
        "currency": "USD",
        "shipping_total": "5.99",
        "tax_total": "5.49",
        "discount_total": "2.00",
    }
    payload.update(overrides)
    return payload


@pytest.fixture
def goods(db):
    from tests.factories import ProductFactory

    return {
        "tee": ProductFactory(sku="TEE-1", name="Tee", weight_kg="0.400", price="24.00"),
        "mug": ProductFactory(sku="MUG-1", name="Mug", weight_kg="0.600", price="18.50"),
    }


@pytest.fixture
def api(client, channel_key, django_capture_on_commit_callbacks):
    """The test client speaking JSON with the channel's key; what runs after commit runs (routing, email)."""

    class Api:
        channel = channel_key.channel

        def post(self, path, body, **extra):
            with django_capture_on_commit_callbacks(execute=True):
                return client.post(path, body, content_type="application/json", headers=channel_key.headers, **extra)

        def get(self, path, **extra):
            return client.get(path, headers=channel_key.headers, **extra)

    return Api()
