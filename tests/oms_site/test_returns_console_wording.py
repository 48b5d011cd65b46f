"""Words a returns associate trips on: the receive step's two quantity columns, and a refused step's error."""

import re

import pytest
from django.urls import reverse

from orders.returns import services
from tests.factories import UserFactory
from tests.returns.conftest import carrier, lines_of, mug, shipped_order, shirt  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def associate(client, roles):
    client.force_login(UserFactory(username="rosa", role="Returns associate"))
    return client


@pytest.fixture
def authorised_return(shipped_order, sites):  # noqa: F811  (the imported fixture)
    order = shipped_order()
    rma = services.open_return(order_id=order.pk, lines={lines_of(order)["TEE-1"]: 2}, reason="other", actor="t")
    return services.authorise_return(rma_id=rma.pk, warehouse_id=sites["EWR"].pk, actor="t")


def step_url(rma, step: str) -> str:
    return reverse("admin:returns_returnrequest_step", args=[rma.pk, step])


def test_the_receive_step_tells_what_came_before_from_what_is_received_now(associate, authorised_return):
    page = associate.get(step_url(authorised_return, "receive")).content.decode()

    headers = re.findall(r"<th(?: [^>]*)?>(.*?)</th>", re.search(r'id="returns-lines".*?</thead>', page, re.S).group(0))
    assert headers == ["SKU", "Name", "Requested", "Received so far", "Receiving now"]


def test_a_refused_step_shows_its_reason_first_and_that_nothing_changed_after(associate, authorised_return, sites):
    rma = authorised_return
    line = rma.lines.get()
    services.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=sites["EWR"].pk, actor="t")

    page = associate.post(step_url(rma, "inspect"), {f"restock_{line.pk}": "1", f"writeoff_{line.pk}": "1"})

    html = page.content.decode()
    box = html[html.index('<div class="errornote oms-refusal"') :]
    assert box.index("TEE-1: a reason is required to write off 1.") < box.index("Nothing was changed.")
    assert '<p class="errornote">Nothing was changed.</p>' not in html
