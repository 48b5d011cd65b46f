"""Property tests over the order payload: whatever arrives, the answer is a 2xx or a 4xx with a message
(never a 500), and a refused request writes nothing."""

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifications.models import Message
from orders.models import Address, Customer, Order, OrderLine
from tests.api.conftest import order_payload

pytestmark = pytest.mark.django_db
ORDERS = "/api/v1/orders"
PROPERTY = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

scalars = st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def paths(value, prefix=()):
    """Every path into a JSON value (dict keys and list indexes)."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


VALID = order_payload()
VALID_PATHS = [path for path in paths(VALID) if path]


@st.composite
def mutated_orders(draw):
    """A valid order with a few of its parts replaced by any JSON value, or removed."""
    payload = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(VALID_PATHS))
        target = payload
        try:
            for key in path[:-1]:
                target = target[key]
            if draw(st.booleans()):
                target[path[-1]] = draw(json_values)
            elif isinstance(target, dict):
                target.pop(path[-1], None)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced the parent
    return payload


def counts():
    return tuple(model.objects.count() for model in (Order, OrderLine, Customer, Address, Message))


def check(response, before):
    assert response.status_code < 500
    if response.status_code >= 300:
        body = response.json()
        assert body["detail"], body  # a message, and for a 400 a path per error
        if response.status_code == 400:
            assert all(error["msg"] and error["loc"] for error in body["detail"])
        assert counts() == before, f"a refused request ({response.status_code}) wrote rows"


@PROPERTY
@given(payload=mutated_orders())
def test_any_mutation_of_an_order_gets_a_2xx_or_a_4xx_and_a_refusal_writes_nothing(api, goods, sites, payload):
    before = counts()
    check(api.post(ORDERS, payload), before)


@PROPERTY
@given(payload=json_values)
def test_any_json_at_all_gets_a_4xx_with_a_message(api, goods, payload):
    before = counts()
    response = api.post(ORDERS, payload)
    assert 400 <= response.status_code < 500
    check(response, before)


@PROPERTY
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_get_a_4xx(client, channel_key, goods, body):
    before = counts()
    response = client.post(ORDERS, body, content_type="application/json", headers=channel_key.headers)
    assert 400 <= response.status_code < 500
    assert counts() == before


def test_the_unmutated_order_is_accepted(api, goods, sites):
    """The property tests start from a payload that is valid: it really places an order."""
    assert api.post(ORDERS, json.loads(json.dumps(VALID))).status_code == 201
