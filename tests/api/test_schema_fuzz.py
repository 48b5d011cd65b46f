"""Schemathesis over every operation of /api/v1/: the schema's own examples, data the schema allows and data it
does not never get a 5xx, and every answer is one the schema describes (its status, content type and body).

It signs in as a client does: a channel's API key, a carrier's token, a Shopify webhook signed with the channel's
secret. Bounded and repeatable: a fixed number of cases per operation and kind, derandomized.
"""

import base64
import hashlib
import hmac
import json

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from oms_site.api import api
from orders import services
from orders.api.channels import ORDER_EXAMPLE, ORDER_NUMBER_EXAMPLE, _order_data
from orders.api.channels import OrderIn as OrderBody
from orders.models import Order
from shipping.models import Vendor
from shipping.services.vendors import issue_vendor_token
from tests.factories import ChannelFactory, ProductFactory

pytestmark = pytest.mark.django_db

FUZZED_CASES = 60  # per operation, after its examples and coverage cases
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
SHOPIFY_SECRET = "shpss_fuzz"  # a test channel's webhook secret
OPERATIONS = [
    (method.upper(), path) for path, methods in api.get_openapi_schema()["paths"].items() for method in methods
]


@pytest.fixture
def app(settings):
    """Django as a WSGI server runs it, inside the test's transaction.

    A server closes the database connection around each request; here that would close the test's own
    transaction, so that is left to the test (as Django's test client does).
    """
    settings.ALLOWED_HOSTS = ["localhost"]
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield WSGIHandler()
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def credentials(channel_key, carriers, sites, stock):
    """A channel key, a carrier token, a Shopify channel's secret; the schema's examples exist.

    The example order's SKUs are in stock and the example order number is one of the channel's orders.
    """
    for sku, name in (("TEE-1", "Tee"), ("MUG-1", "Mug")):
        product = ProductFactory(sku=sku, name=name, weight_kg="0.400", price="24.00")
        stock(sites["EWR"], product, 1000)
    example = OrderBody.model_validate({**ORDER_EXAMPLE, "external_id": "WEB-0042", "payment": None})
    order, _ = services.place_order(channel=channel_key.channel, data=_order_data(example), actor="test", route=False)
    Order.objects.filter(pk=order.pk).update(number=ORDER_NUMBER_EXAMPLE)
    ChannelFactory(code="shopify-us", name="Shopify US", webhook_secret=SHOPIFY_SECRET)
    return {
        "channel": f"Bearer {channel_key.key}",
        "carrier": f"Bearer {issue_vendor_token(Vendor.objects.order_by('pk').first())}",
    }


def send(case, credentials):
    """The case as a client sends it, signed in; every check run on the answer."""
    kwargs = {}
    if case.operation.path.startswith("/api/v1/webhooks/shopify/"):
        # Signed as Shopify signs: the HMAC of the very bytes sent, to the channel that has the secret.
        case.path_parameters = {**(case.path_parameters or {}), "channel_code": "shopify-us"}
        body = json.dumps(case.body).encode() if isinstance(case.body, dict | list) else b"{}"
        signature = base64.b64encode(hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()).decode()
        headers = {"X-Shopify-Hmac-Sha256": signature, "X-Shopify-Topic": "orders/create"}
        kwargs["data"] = body
    elif case.operation.path == "/api/v1/tracking":
        headers = {"Authorization": credentials["carrier"]}
    else:
        headers = {"Authorization": credentials["channel"]}
    case.call_and_validate(headers=headers, checks=CHECKS, **kwargs)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_answers_as_its_schema_says(app, credentials, method, path):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # Every case signs in (a missing or wrong key has tests of its own): the cases reach the operation itself.
    schema.config.generation.update(with_security_parameters=False)
    operation = schema[path][method]
    # Schemathesis's phases, as its pytest plugin runs them: the schema's examples, the coverage cases (each
    # boundary and each kind of invalid value, positive and negative), then fuzzing in both modes.
    answers_as_documented = create_test(
        operation=operation,
        test_func=lambda case: send(case, credentials),
        config=HypothesisTestConfig(
            project=schema.config,
            modes=list(HypothesisTestMode),
            settings=hypothesis_settings(
                max_examples=FUZZED_CASES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            ),
        ),
    )
    answers_as_documented()
