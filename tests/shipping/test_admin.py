"""The shipping console through the admin client: pages, actions, rate-card import, labels, batches, promise, roles."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from inventory.models import StockLevel
from orders import selectors as order_selectors
from orders import services
from orders.models import OrderStatus
from shipping import selectors
from shipping.models import LabelBatch, Rate, Shipment, ShipmentStatus, TrackingEvent, TransitTime
from shipping.services import quote_for
from shipping.services.vendors import hash_token
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db
SHIPMENTS = reverse("admin:shipping_shipment_changelist")
ORDERS = reverse("admin:orders_order_changelist")


def act_url(action: str) -> str:
    return reverse("admin:shipping_shipment_act", args=[action])


def texts(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


def followed_messages(client, response) -> list[str]:
    """The messages a redirect carries, read from the page it leads to."""
    assert response.status_code == 302, response.status_code
    return [str(m) for m in client.get(response["Location"]).context["messages"]]


@pytest.fixture
def ops(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def shirt(db):
    return ProductFactory(sku="TEE-1", name="Tee", weight_kg="0.400")


@pytest.fixture
def allocated(sites, stock, order_to, shirt, carriers):
    """allocated(qty=1, **order fields): an order to New York, reserved at EWR."""
    stock(sites["EWR"], shirt, 50)

    def make(quantity: int = 1, **fields):
        order = order_to("NYC", [(shirt, quantity)], **fields)
        services.allocate_order(order_id=order.pk, actor="test")
        order.refresh_from_db()
        return order

    return make


@pytest.fixture
def shipment(allocated):
    order = allocated()
    (made,) = services.create_shipments(order_id=order.pk, actor="test")
    return made


@pytest.fixture
def labelled(shipment, django_capture_on_commit_callbacks):
    """The shipment with its label bought and rendered."""
    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=shipment.pk, actor="test")
    shipment.refresh_from_db()
    return shipment


def login(client, role: str):
    user = UserFactory(username=role.lower().replace(" ", "-"), role=role)
    client.force_login(user)
    return user


# --- pages -------------------------------------------------------------------------


def test_every_shipping_page_renders(ops, labelled, carriers):
    vendor = carriers["2day"].vendor
    services.ship_shipment(shipment_id=labelled.pk, actor="test")
    services.record_tracking(
        tracking_number=labelled.parcels.get().tracking_number,
        status="in_transit",
        occurred_at=timezone.now(),
        actor="test",
        source="admin",
        location="Secaucus, NJ",
    )
    batch = LabelBatch.objects.create(label_count=1)
    pages = [
        reverse("admin:shipping_vendor_changelist"),
        reverse("admin:shipping_vendor_change", args=[vendor.pk]),
        reverse("admin:shipping_carrierservice_changelist"),
        reverse("admin:shipping_carrierservice_change", args=[carriers["2day"].pk]),
        reverse("admin:shipping_carrierservice_import", args=[carriers["2day"].pk]),
        reverse("admin:shipping_promise"),
        SHIPMENTS,
        reverse("admin:shipping_shipment_change", args=[labelled.pk]),
        reverse("admin:shipping_trackingevent_changelist"),
        reverse("admin:shipping_trackingevent_change", args=[TrackingEvent.objects.get().pk]),
        reverse("admin:shipping_labelbatch_changelist"),
        reverse("admin:shipping_labelbatch_change", args=[batch.pk]),
        reverse("admin:app_list", args=["shipping"]),
    ]
    for url in pages:
        assert ops.get(url).status_code == 200, url


def test_shipment_list_shows_order_status_tracking_and_cost(ops, labelled):
    response = ops.get(SHIPMENTS)

    html = response.content.decode()
    number = labelled.parcels.get().tracking_number
    assert labelled.number in html and labelled.order_number in html
    assert 'class="oms-badge oms-badge-label_created"' in html
    assert f'href="https://rapid.example/t/{number}"' in html  # the vendor's tracking page
    assert f"{labelled.shipping_cost:,.2f} USD" in html


@pytest.mark.parametrize(
    "term",
    [
        lambda s: s.number,
        lambda s: s.order_number,
        lambda s: s.order_number.removeprefix("SO-").lstrip("0"),
        lambda s: s.parcels.get().tracking_number,
    ],
    ids=["shipment", "order", "order-digits", "tracking"],
)
def test_search_finds_the_shipment(ops, allocated, labelled, term):
    other = allocated()
    services.create_shipments(order_id=other.pk, actor="test")

    response = ops.get(SHIPMENTS, {"q": term(labelled)})

    assert [s.number for s in response.context["cl"].result_list] == [labelled.number]


def test_status_filter(ops, allocated, labelled):
    services.create_shipments(order_id=allocated().pk, actor="test")

    response = ops.get(SHIPMENTS, {"status__exact": ShipmentStatus.LABEL_CREATED})

    assert [s.number for s in response.context["cl"].result_list] == [labelled.number]


def test_shipment_page_shows_lines_parcels_options_and_the_choice(ops, labelled, carriers):
    html = ops.get(reverse("admin:shipping_shipment_change", args=[labelled.pk])).content.decode()

    assert "TEE-1" in html
    assert labelled.parcels.get().tracking_number in html
    assert html.count('class="oms-chosen"') == 1
    assert "Budget Freight Ground" in html or "Ground" in html  # every option considered is listed
    assert labelled.choice_reason in html
    assert reverse("admin:shipping_shipment_label", args=[labelled.pk]) in html
    assert 'name="_save"' not in html  # nothing is edited by hand
    assert "/media/" not in html  # labels are never linked from a public media URL


def test_shipments_and_batches_are_read_only(ops, labelled):
    assert ops.get(reverse("admin:shipping_shipment_add")).status_code == 403
    response = ops.post(reverse("admin:shipping_shipment_change", args=[labelled.pk]), {"status": "delivered"})
    assert response.status_code == 403
    assert ops.get(reverse("admin:shipping_labelbatch_add")).status_code == 403
    assert ops.get(reverse("admin:shipping_trackingevent_add")).status_code == 403


def test_index_links_the_promise_tool(ops, carriers):
    html = ops.get(reverse("admin:index")).content.decode()

    assert reverse("admin:shipping_promise") in html and "Delivery promise" in html


# --- actions -------------------------------------------------------------------------


def test_buy_labels_action_buys_and_reports_each_refusal(ops, shipment, labelled, allocated):
    waiting = services.create_shipments(order_id=allocated().pk, actor="test")[0]

    response = ops.post(
        SHIPMENTS, {"action": "buy_labels_selected", "_selected_action": [labelled.pk, waiting.pk]}, follow=True
    )

    messages = texts(response)
    waiting.refresh_from_db()
    assert waiting.status == ShipmentStatus.LABEL_CREATED
    assert any(m.startswith(f"{waiting}: label bought from") for m in messages)
    assert any(str(labelled) in m and "not awaiting a label" in m for m in messages)
    assert "1 of 2 shipments done." in messages


def test_print_labels_makes_one_batch_and_opens_its_page(ops, labelled, allocated, django_capture_on_commit_callbacks):
    waiting = services.create_shipments(order_id=allocated().pk, actor="test")[0]

    with django_capture_on_commit_callbacks(execute=True):
        response = ops.post(
            SHIPMENTS, {"action": "print_labels_selected", "_selected_action": [labelled.pk, waiting.pk]}
        )

    batch = LabelBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:shipping_labelbatch_change", args=[batch.pk])
    assert list(batch.shipments.all()) == [labelled]
    page = ops.get(response["Location"])
    messages = texts(page)
    assert any(f"{waiting} is awaiting label: no label to print (buy it first)." == m for m in messages)
    html = page.content.decode()
    batch.refresh_from_db()
    assert batch.status == LabelBatch.Status.DONE
    assert 'id="batch-download"' in html
    download = ops.get(reverse("admin:shipping_labelbatch_download", args=[batch.pk]))
    assert download["Content-Type"] == "application/pdf"
    assert b"".join(download.streaming_content).startswith(b"%PDF")


def test_mark_shipped_ships_and_refuses_unlabelled(ops, labelled, allocated):
    waiting = services.create_shipments(order_id=allocated().pk, actor="test")[0]

    response = ops.post(
        SHIPMENTS, {"action": "ship_selected", "_selected_action": [labelled.pk, waiting.pk]}, follow=True
    )

    messages = texts(response)
    labelled.refresh_from_db()
    assert labelled.status == ShipmentStatus.IN_TRANSIT
    assert Shipment.objects.get(pk=waiting.pk).status == ShipmentStatus.AWAITING_LABEL
    assert f"{labelled} shipped: the carrier has it." in messages
    assert any(str(waiting) in m and "only a labelled shipment can ship" in m for m in messages)
    labelled.order.refresh_from_db()
    assert labelled.order.status == OrderStatus.SHIPPED


def test_void_asks_for_a_reason_then_voids(ops, labelled):
    response = ops.post(SHIPMENTS, {"action": "void_labels_selected", "_selected_action": [labelled.pk]})
    form_url = response["Location"]
    assert form_url.startswith(act_url("void"))
    assert labelled.number in ops.get(form_url).content.decode()

    refused = ops.post(form_url, {"ids": str(labelled.pk), "reason": ""})
    assert refused.status_code == 200 and refused.context["form"].errors["reason"]
    assert Shipment.objects.get(pk=labelled.pk).status == ShipmentStatus.LABEL_CREATED

    done = ops.post(form_url, {"ids": str(labelled.pk), "reason": "Printer jam"})
    assert f"{labelled}: label voided; it waits for a new label." in followed_messages(ops, done)
    labelled.refresh_from_db()
    assert labelled.status == ShipmentStatus.AWAITING_LABEL
    assert "Printer jam" in labelled.order.events.last().message


def test_packing_slips_come_back_as_one_pdf(ops, labelled, allocated):
    waiting = services.create_shipments(order_id=allocated().pk, actor="test")[0]

    response = ops.post(SHIPMENTS, {"action": "packing_slips_selected", "_selected_action": [labelled.pk, waiting.pk]})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_packing_slips_are_capped(ops, labelled, monkeypatch):
    monkeypatch.setattr("orders.admin.shipments.MAX_PACKING_SLIPS", 0)

    response = ops.post(SHIPMENTS, {"action": "packing_slips_selected", "_selected_action": [labelled.pk]}, follow=True)

    assert "Packing slips are made for at most 0 shipments at a time." in texts(response)


def test_bulk_actions_are_capped(ops, labelled, monkeypatch):
    monkeypatch.setattr("orders.admin.shipments.MAX_BULK_SHIPMENTS", 0)

    response = ops.post(SHIPMENTS, {"action": "ship_selected", "_selected_action": [labelled.pk]}, follow=True)

    assert any("Select at most 0 shipments" in m for m in texts(response))
    assert Shipment.objects.get(pk=labelled.pk).status == ShipmentStatus.LABEL_CREATED


def test_record_tracking_by_hand_delivers_the_shipment_and_the_order(ops, labelled):
    services.ship_shipment(shipment_id=labelled.pk, actor="test")
    response = ops.post(SHIPMENTS, {"action": "record_tracking_selected", "_selected_action": [labelled.pk]})
    form_url = response["Location"]
    assert form_url.startswith(act_url("track"))
    assert ops.get(form_url).status_code == 200
    when = timezone.localtime() - dt.timedelta(hours=1)

    done = ops.post(
        form_url,
        {
            "ids": str(labelled.pk),
            "status": "delivered",
            "occurred_at_0": when.strftime("%Y-%m-%d"),
            "occurred_at_1": when.strftime("%H:%M:%S"),
            "description": "Left with the neighbour",
            "location": "New York, NY",
        },
    )

    messages = followed_messages(ops, done)
    assert f"{labelled}: delivered recorded for 1 parcel; the shipment is delivered." in messages
    event = TrackingEvent.objects.get()
    assert (event.source, event.recorded_by, event.location) == ("admin", "boss", "New York, NY")
    labelled.order.refresh_from_db()
    assert labelled.order.status == OrderStatus.DELIVERED


def test_record_tracking_is_refused_before_the_carrier_has_it(ops, labelled):
    when = timezone.localtime()
    response = ops.post(
        act_url("track"),
        {
            "ids": str(labelled.pk),
            "status": "in_transit",
            "occurred_at_0": when.strftime("%Y-%m-%d"),
            "occurred_at_1": when.strftime("%H:%M:%S"),
        },
    )

    assert any("has not been handed to the carrier" in m for m in followed_messages(ops, response))
    assert not TrackingEvent.objects.exists()


def test_a_tracking_time_in_the_future_is_refused_on_the_form(ops, labelled):
    later = timezone.localtime() + dt.timedelta(days=2)
    response = ops.post(
        act_url("track"),
        {
            "ids": str(labelled.pk),
            "status": "in_transit",
            "occurred_at_0": later.strftime("%Y-%m-%d"),
            "occurred_at_1": later.strftime("%H:%M:%S"),
        },
    )

    assert response.status_code == 200
    assert "in the future" in str(response.context["form"].errors["occurred_at"])


def test_change_carrier_lists_prices_and_overrides_with_the_reason(ops, shipment, carriers):
    url = f"{act_url('carrier')}?ids={shipment.pk}"
    page = ops.get(url)
    html = page.content.decode()
    assert "Rapid Air Overnight: 40.00 USD, arrives" in html
    assert "(current)" in html

    response = ops.post(url, {"ids": str(shipment.pk), "service": carriers["overnight"].pk, "reason": "VIP"})

    assert any("now Rapid Air Overnight at 40.00 USD" in m for m in followed_messages(ops, response))
    shipment.refresh_from_db()
    assert shipment.service == carriers["overnight"]
    assert shipment.choice_reason.endswith(": VIP")


def test_change_carrier_is_refused_once_the_label_is_bought(ops, labelled, carriers):
    response = ops.post(
        act_url("carrier"), {"ids": str(labelled.pk), "service": carriers["overnight"].pk, "reason": "VIP"}
    )

    assert any("void it before changing the service" in m for m in followed_messages(ops, response))
    assert Shipment.objects.get(pk=labelled.pk).service == labelled.service


def test_shipment_page_buttons_follow_status_and_permission(ops, client, shipment, labelled, roles):
    html = ops.get(reverse("admin:shipping_shipment_change", args=[labelled.pk])).content.decode()
    for action in ("print", "ship", "void", "slips"):
        assert f'data-action="{action}"' in html
    assert 'data-action="buy"' not in html and 'data-action="carrier"' not in html

    login(client, "Returns associate")
    html = client.get(reverse("admin:shipping_shipment_change", args=[labelled.pk])).content.decode()
    for action in ("print", "ship", "void", "buy", "carrier", "track"):
        assert f'data-action="{action}"' not in html


# --- labels ------------------------------------------------------------------------------


def test_label_download_serves_the_pdf_inline(ops, labelled):
    response = ops.get(reverse("admin:shipping_shipment_label", args=[labelled.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline")
    assert b"".join(response.streaming_content).startswith(b"%PDF")


def test_a_missing_label_file_is_rendered_again(ops, labelled):
    labelled.label_file.delete(save=True)

    response = ops.get(reverse("admin:shipping_shipment_label", args=[labelled.pk]))

    assert b"".join(response.streaming_content).startswith(b"%PDF")
    labelled.refresh_from_db()
    assert labelled.label_file


def test_zpl_labels_download_as_a_text_file(ops, labelled):
    labelled.label_file.delete(save=False)
    Shipment.objects.filter(pk=labelled.pk).update(label_format="zpl", label_file="")

    response = ops.get(reverse("admin:shipping_shipment_label", args=[labelled.pk]))

    assert response["Content-Type"].startswith("text/plain")
    assert response["Content-Disposition"].startswith("attachment")
    assert b"".join(response.streaming_content).startswith(b"^XA")


def test_label_download_needs_the_view_permission(client, labelled, roles):
    url = reverse("admin:shipping_shipment_label", args=[labelled.pk])
    client.force_login(UserFactory(username="nobody"))  # staff, no role
    assert client.get(url).status_code == 403

    login(client, "Returns associate")  # may view shipments
    assert client.get(url)["Content-Type"] == "application/pdf"


def test_without_print_permission_a_missing_label_is_not_rendered(client, labelled, roles):
    labelled.label_file.delete(save=True)
    login(client, "Returns associate")

    response = client.get(reverse("admin:shipping_shipment_label", args=[labelled.pk]))

    assert any("not rendered yet" in m for m in followed_messages(client, response))
    labelled.refresh_from_db()
    assert not labelled.label_file


def test_no_label_before_it_is_bought(ops, shipment):
    response = ops.get(reverse("admin:shipping_shipment_label", args=[shipment.pk]))

    assert any("has no label: buy it first" in m for m in followed_messages(ops, response))


# --- label batches -------------------------------------------------------------------------


def test_a_rendering_batch_shows_progress_and_polls_its_status(ops, labelled):
    batch = LabelBatch.objects.create(status=LabelBatch.Status.RENDERING, label_count=10, rendered_count=3)
    batch.shipments.set([labelled])

    html = ops.get(reverse("admin:shipping_labelbatch_change", args=[batch.pk])).content.decode()
    status = ops.get(reverse("admin:shipping_labelbatch_status", args=[batch.pk]))

    assert 'max="10" value="3"' in html and "3 of 10 labels (30%)" in html
    assert reverse("admin:shipping_labelbatch_status", args=[batch.pk]) in html
    assert "oms/progress.js" in html  # the poller (a static file: the CSP allows no inline script)
    assert 'id="batch-download"' not in html
    assert status.json() == {
        "id": batch.pk,
        "status": "rendering",
        "status_label": "Rendering",
        "rendered": 3,
        "total": 10,
        "percent": 30,
        "finished": False,
        "error": "",
        "download_url": "",
    }
    assert "no-store" in status["Cache-Control"]
    download = ops.get(reverse("admin:shipping_labelbatch_download", args=[batch.pk]))
    assert any("rendering: no file yet" in m for m in followed_messages(ops, download))


def test_a_done_batch_offers_its_file_and_stops_polling(ops):
    batch = LabelBatch.objects.create(status=LabelBatch.Status.DONE, label_count=2, rendered_count=2)
    batch.file.save("b.pdf", ContentFile(b"%PDF-1.7 test"))

    html = ops.get(reverse("admin:shipping_labelbatch_change", args=[batch.pk])).content.decode()
    status = ops.get(reverse("admin:shipping_labelbatch_status", args=[batch.pk])).json()

    assert 'id="batch-download"' in html and "oms/progress.js" not in html
    assert status["finished"] and status["download_url"] == reverse(
        "admin:shipping_labelbatch_download", args=[batch.pk]
    )


def test_a_failed_batch_shows_its_error(ops):
    batch = LabelBatch.objects.create(status=LabelBatch.Status.FAILED, label_count=2, error="ValueError: bad barcode")

    html = ops.get(reverse("admin:shipping_labelbatch_change", args=[batch.pk])).content.decode()

    assert 'id="batch-error"' in html and "ValueError: bad barcode" in html


# --- rate cards -----------------------------------------------------------------------------


def upload(text: str, name: str = "card.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_a_bad_rate_card_lists_every_bad_row_and_imports_nothing(ops, carriers):
    service = carriers["2day"]
    before = list(service.rates.values_list("zone", "max_weight_kg", "price"))
    card = "zone,max_weight_kg,price\n2,1,7.90\n9,1,8.00\n3,abc,8.00\n3,2,-1\n2,1.000,9.00\n4,1,1e\n"

    response = ops.post(reverse("admin:shipping_carrierservice_import", args=[service.pk]), {"file": upload(card)})

    assert response.status_code == 200
    errors = [(e.row, e.field) for e in response.context["row_errors"]]
    assert errors == [(3, "zone"), (4, "max_weight_kg"), (5, "price"), (6, "max_weight_kg"), (7, "price")]
    html = response.content.decode()
    assert "The rate card has 5 errors; nothing was imported." in html
    assert "&#x27;9&#x27; is not a zone; use a whole number from 2 to 8" in html
    assert "&#x27;abc&#x27; is not a decimal number" in html
    assert "zone 2 up to 1.000 kg is already on row 2" in html
    assert list(service.rates.values_list("zone", "max_weight_kg", "price")) == before


def test_a_card_without_a_required_column_is_refused(ops, carriers):
    service = carriers["2day"]

    response = ops.post(
        reverse("admin:shipping_carrierservice_import", args=[service.pk]),
        {"file": upload("zone,weight,price\n2,1,5\n")},
    )

    errors = [(e.row, e.field) for e in response.context["row_errors"]]
    assert (1, "max_weight_kg") in errors and (1, "weight") in errors
    assert service.rates.count() == 7


def test_a_good_rate_card_replaces_the_card_and_transit_times(
    ops, carriers, allocated, django_capture_on_commit_callbacks
):
    service = carriers["2day"]
    order = allocated()
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    selectors.active_service_terms()  # warm the cache with the old card
    card = "Zone,Max_Weight_KG,Price,transit_days\n" + "".join(
        f"{zone},{weight},{price},1\n" for zone in range(2, 9) for weight, price in (("1", "4.00"), ("30", "6.50"))
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = ops.post(reverse("admin:shipping_carrierservice_import", args=[service.pk]), {"file": upload(card)})

    messages = followed_messages(ops, response)
    assert any(
        m.startswith(f"{service}: imported 14 rate cells for zones 2, 3, 4, 5, 6, 7, 8 (replacing 7)") for m in messages
    )
    assert service.rates.count() == 14
    assert Rate.objects.get(service=service, zone=4, max_weight_kg=Decimal("1")).price == Decimal("4.00")
    assert set(TransitTime.objects.filter(service=service).values_list("business_days", flat=True)) == {1}
    # The cache was dropped: the next quote prices with the new card.
    options, _ = quote_for(warehouse=shipment.warehouse, zone=shipment.zone, parcel_weights=[Decimal("0.4")])
    assert {o.price for o in options if o.service_id == service.pk} == {Decimal("4.00")}


def test_the_card_exports_as_csv_in_the_import_columns(ops, carriers):
    response = ops.get(reverse("admin:shipping_carrierservice_export", args=[carriers["ground"].pk]))

    lines = response.content.decode().splitlines()
    assert lines[0] == "zone,max_weight_kg,price,transit_days"
    assert lines[1] == "2,30.000,8.00,5"
    assert len(lines) == 8


# --- vendors: the webhook token -------------------------------------------------------------


def test_issuing_a_webhook_token_shows_it_once_and_replaces_the_old(ops, carriers):
    vendor = carriers["ground"].vendor
    vendor.webhook_token_hash = hash_token("old-token")
    vendor.save()
    url = reverse("admin:shipping_vendor_token", args=[vendor.pk])

    confirm = ops.get(url)
    assert "the old token stops working" in confirm.content.decode()
    response = ops.post(url)

    token = response.context["token"]
    vendor.refresh_from_db()
    assert token and token in response.content.decode()
    assert vendor.webhook_token_hash == hash_token(token)
    assert "no-store" in response["Cache-Control"]
    assert "previous token has stopped working" in response.content.decode()
    assert token not in ops.get(reverse("admin:shipping_vendor_change", args=[vendor.pk])).content.decode()


def test_the_vendor_action_leads_to_the_token_page_for_one_vendor(ops, carriers):
    vendors = [carriers["ground"].vendor, carriers["2day"].vendor]
    changelist = reverse("admin:shipping_vendor_changelist")

    one = ops.post(changelist, {"action": "issue_webhook_token_selected", "_selected_action": [vendors[0].pk]})
    two = ops.post(
        changelist,
        {"action": "issue_webhook_token_selected", "_selected_action": [v.pk for v in vendors]},
        follow=True,
    )

    assert one["Location"] == reverse("admin:shipping_vendor_token", args=[vendors[0].pk])
    assert "Select exactly one vendor to issue a token for." in texts(two)


# --- the promise tool -----------------------------------------------------------------------


def test_the_promise_tool_shows_the_date_cost_and_options(ops, sites, stock, shirt, carriers):
    stock(sites["EWR"], shirt, 5)

    response = ops.get(reverse("admin:shipping_promise"), {"postal_code": "10001", "country": "US", "items": "TEE-1 2"})

    promise = response.context["promise"]
    html = response.content.decode()
    assert promise.deliverable
    assert f"{promise.earliest_date:%a} {promise.earliest_date.day} {promise.earliest_date:%b %Y}" in html
    assert str(promise.earliest_cost) in html and str(promise.cheapest_cost) in html
    assert "From EWR" in html and "2 × TEE-1" in html
    assert "Rapid Air Overnight" in html and "Budget Freight Ground" in html
    assert promise.routing in html


def test_the_promise_tool_puts_errors_on_the_field(ops, sites, stock, shirt, carriers):
    stock(sites["EWR"], shirt, 5)
    url = reverse("admin:shipping_promise")

    unknown_sku = ops.get(url, {"postal_code": "10001", "country": "US", "items": "TEE-1 1\n\nNOPE 2"})
    bad_zip = ops.get(url, {"postal_code": "00000", "country": "US", "items": "TEE-1"})
    bad_line = ops.get(url, {"postal_code": "10001", "country": "US", "items": "TEE-1 two"})

    assert unknown_sku.context["form"].errors["items"] == ["line 3: unknown or inactive SKU 'NOPE'."]
    assert bad_zip.context["form"].errors["postal_code"]
    assert "line 1" in bad_line.context["form"].errors["items"][0]


def test_the_promise_tool_names_unavailable_skus(ops, sites, stock, shirt, carriers):
    stock(sites["EWR"], shirt, 1)

    response = ops.get(reverse("admin:shipping_promise"), {"postal_code": "10001", "country": "US", "items": "TEE-1 3"})

    assert response.context["promise"].unavailable == {"TEE-1": 2}
    assert 'id="promise-unavailable"' in response.content.decode()


# --- the order page and the order list -------------------------------------------------------


def test_order_page_walks_create_buy_print_ship(ops, allocated, django_capture_on_commit_callbacks):
    order = allocated(2)
    page = reverse("admin:orders_order_change", args=[order.pk])
    html = ops.get(page).content.decode()
    assert 'data-action="create-shipments"' in html and "No shipments yet." in html

    created = ops.post(reverse("admin:orders_order_act", args=["ship"]), {"ids": str(order.pk), "next": page})
    assert created["Location"] == page
    shipment = Shipment.objects.get(order=order)
    html = ops.get(page).content.decode()
    assert 'data-action="create-shipments"' not in html  # every reserved unit is in a shipment
    assert 'data-action="buy-labels"' in html and shipment.number in html

    with django_capture_on_commit_callbacks(execute=True):
        ops.post(act_url("buy"), {"ids": str(shipment.pk), "next": page})
    html = ops.get(page).content.decode()
    assert 'data-action="print-labels"' in html and 'data-action="mark-shipped"' in html
    assert shipment.parcels.get().tracking_number in html

    with django_capture_on_commit_callbacks(execute=True):
        printed = ops.post(act_url("print"), {"ids": str(shipment.pk), "next": page})
    assert printed["Location"].startswith("/admin/shipping/labelbatch/")

    shipped = ops.post(act_url("ship"), {"ids": str(shipment.pk), "next": page})
    assert shipped["Location"] == page
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED


def test_order_list_creates_shipments_in_bulk_and_reports_refusals(ops, allocated):
    ready = allocated()
    done = allocated()
    services.create_shipments(order_id=done.pk, actor="test")

    response = ops.post(
        ORDERS, {"action": "create_shipments_selected", "_selected_action": [ready.pk, done.pk]}, follow=True
    )

    messages = texts(response)
    assert Shipment.objects.filter(order=ready).count() == 1
    assert any(
        m.startswith(f"Made 1 shipment for {ready}: <a href=") and f">{ready.number}-1</a> (EWR, " in m
        for m in messages
    )
    assert f"Order {done}: no reserved units are waiting for a shipment." in messages


def test_pick_list_groups_the_wave_by_warehouse_and_bin(sites, stock, order_to, shirt, carriers):
    mug = ProductFactory(sku="MUG-1", name="Mug", weight_kg="0.6")
    stock(sites["EWR"], shirt, 10)
    StockLevel.objects.filter(warehouse=sites["EWR"], product=shirt).update(bin_location="A-10")
    stock(sites["EWR"], mug, 10)
    stock(sites["ATL"], mug, 10)
    orders = []
    for city, lines in (("NYC", [(shirt, 2), (mug, 1)]), ("NYC", [(shirt, 1)]), ("MIA", [(mug, 3)])):
        order = order_to(city, lines)
        services.allocate_order(order_id=order.pk, actor="test")
        orders.append(order)

    pick_list = order_selectors.pick_list_for([o.pk for o in orders])

    assert [w.code for w in pick_list.warehouses] == ["ATL", "EWR"]
    ewr = pick_list.warehouses[1]
    bins = {b.bin_location: {i.sku: (i.quantity, i.order_numbers) for i in b.items} for b in ewr.bins}
    assert bins["A-10"] == {"TEE-1": (3, sorted([orders[0].number, orders[1].number]))}
    assert bins[""] == {"MUG-1": (1, [orders[0].number])}
    assert pick_list.total_quantity == 7


def test_pick_list_action_returns_a_pdf_and_leaves_held_orders_off(ops, allocated):
    picked = allocated()
    held = allocated()
    services.hold_order(order_id=held.pk, reason="check", actor="test")

    response = ops.post(ORDERS, {"action": "pick_list_selected", "_selected_action": [picked.pk, held.pk]})

    assert response["Content-Type"] == "application/pdf" and response.content.startswith(b"%PDF")
    assert f"{held.number} is on hold: left off the pick list." in [str(m) for m in ops.get(ORDERS).context["messages"]]


def test_pick_list_with_nothing_reserved_is_refused(ops, order):
    response = ops.post(ORDERS, {"action": "pick_list_selected", "_selected_action": [order.pk]}, follow=True)

    assert "None of the selected orders has reserved units to pick." in texts(response)


# --- roles -----------------------------------------------------------------------------------


def test_returns_associate_cannot_buy_labels_or_change_rates(client, labelled, shipment, carriers, roles):
    login(client, "Returns associate")
    service = carriers["2day"]

    assert client.get(SHIPMENTS).status_code == 200
    assert client.post(act_url("buy"), {"ids": str(shipment.pk)}).status_code == 403
    assert client.post(act_url("ship"), {"ids": str(labelled.pk)}).status_code == 403
    actions = {name for name, _ in client.get(SHIPMENTS).context["action_form"].fields["action"].choices}
    assert actions == {"", "packing_slips_selected"}
    assert client.get(reverse("admin:shipping_carrierservice_import", args=[service.pk])).status_code == 403
    assert client.get(reverse("admin:shipping_carrierservice_change", args=[service.pk])).status_code == 403
    assert client.get(reverse("admin:shipping_promise")).status_code == 403
    assert Shipment.objects.get(pk=labelled.pk).status == ShipmentStatus.LABEL_CREATED


def test_warehouse_staff_buy_print_and_ship_but_cannot_edit_rates_or_override(
    client, shipment, carriers, roles, django_capture_on_commit_callbacks
):
    login(client, "Warehouse staff")
    service = carriers["2day"]

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(act_url("buy"), {"ids": str(shipment.pk)}).status_code == 302
        assert client.post(act_url("print"), {"ids": str(shipment.pk)}).status_code == 302
    assert client.post(act_url("ship"), {"ids": str(shipment.pk)}).status_code == 302
    assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.IN_TRANSIT
    assert LabelBatch.objects.get().created_by.username == "warehouse-staff"

    assert client.get(f"{act_url('carrier')}?ids={shipment.pk}").status_code == 403
    assert client.get(reverse("admin:shipping_carrierservice_import", args=[service.pk])).status_code == 403
    page = client.get(reverse("admin:shipping_carrierservice_change", args=[service.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(act_url("track"), {"ids": str(shipment.pk)}).status_code == 403
    assert client.get(reverse("admin:shipping_vendor_token", args=[service.vendor_id])).status_code == 403


def test_operations_associate_records_tracking_and_overrides_but_does_not_print(client, shipment, carriers, roles):
    login(client, "Operations associate")

    assert client.post(act_url("buy"), {"ids": str(shipment.pk)}).status_code == 403
    response = client.post(
        act_url("carrier"), {"ids": str(shipment.pk), "service": carriers["overnight"].pk, "reason": "asked"}
    )
    assert response.status_code == 302
    assert Shipment.objects.get(pk=shipment.pk).service == carriers["overnight"]
    assert client.get(f"{act_url('track')}?ids={shipment.pk}").status_code == 200
    assert client.get(reverse("admin:shipping_promise")).status_code == 200
    assert client.get(reverse("admin:shipping_vendor_token", args=[carriers["ground"].vendor_id])).status_code == 403


def test_operations_manager_imports_rates_and_issues_tokens(client, carriers, roles):
    login(client, "Operations manager")
    service = carriers["2day"]

    response = client.post(
        reverse("admin:shipping_carrierservice_import", args=[service.pk]),
        {"file": upload("zone,max_weight_kg,price\n2,5,3.00\n")},
    )
    assert response.status_code == 302 and service.rates.count() == 1
    assert client.post(reverse("admin:shipping_vendor_token", args=[service.vendor_id])).status_code == 200


SHIPPING_PAGES = ["vendor", "carrierservice", "shipment", "trackingevent", "labelbatch"]
MAY_OPEN = {
    "Operations manager": set(SHIPPING_PAGES),
    "Operations associate": set(SHIPPING_PAGES),
    "Returns associate": {"shipment", "trackingevent"},
    "Warehouse staff": {"vendor", "carrierservice", "shipment", "labelbatch"},
}


@pytest.mark.parametrize("role", list(MAY_OPEN))
def test_each_role_opens_the_shipping_lists_it_needs(client, labelled, roles, role):
    login(client, role)

    for page in SHIPPING_PAGES:
        status = client.get(reverse(f"admin:shipping_{page}_changelist")).status_code
        assert status == (200 if page in MAY_OPEN[role] else 403), (role, page)
    order_page = client.get(reverse("admin:orders_order_change", args=[labelled.order_id])).content.decode()
    assert 'id="order-shipments"' in order_page  # every role sees the order's shipments
    assert ('data-action="mark-shipped"' in order_page) == (role in {"Operations manager", "Warehouse staff"})


def test_a_batch_of_one_label_says_label_not_labels(ops, labelled):
    batch = LabelBatch.objects.create(status=LabelBatch.Status.DONE, label_count=1, rendered_count=1)
    batch.shipments.set([labelled])

    html = ops.get(reverse("admin:shipping_labelbatch_change", args=[batch.pk])).content.decode()
    listing = ops.get(reverse("admin:shipping_labelbatch_changelist")).content.decode()

    assert str(batch) == f"Label batch #{batch.pk} (1 label)"
    assert "1 of 1 label (100%)" in html
    assert f"Label batch #{batch.pk} (1 label)" in listing
    assert "(1 labels)" not in html + listing and "1 of 1 labels" not in html
