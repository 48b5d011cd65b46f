"""The network coverage page: runs over the last days' orders and a demand file, the what-if beside the network
as it is, the progress, and who may see it."""

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from oms_site.roles import OPERATIONS_ASSOCIATE, OPERATIONS_MANAGER, RETURNS_ASSOCIATE, WAREHOUSE_STAFF
from orders import coverage
from orders.models import CoverageRun
from shipping.models import Vendor
from tests.factories import UserFactory
from tests.shipping.conftest import make_service

pytestmark = pytest.mark.django_db


@pytest.fixture
def ground(db):
    vendor = Vendor.objects.create(code="road", name="Road Parcel", tracking_prefix="RP", tracking_digits=10)
    air = Vendor.objects.create(code="air", name="Air", tracking_prefix="AI", tracking_digits=10)
    make_service(air, "NEXTDAY", transit=1, prices="30.00")  # not ground: never counted
    return make_service(vendor, "GROUND", transit=2, prices="8.00")


@pytest.fixture
def network(sites, products, stock, ground):
    """EWR (Edison NJ) and DAL (Dallas) hold SKU-A; only EWR holds SKU-B; ATL and RNO hold nothing."""
    stock(sites["EWR"], products[0], 10)
    stock(sites["EWR"], products[1], 10)
    stock(sites["DAL"], products[0], 10)
    return sites


def signed_in(client, role: str):
    user = UserFactory(username=role.lower().replace(" ", "-"), role=role)
    client.force_login(user)
    return user


def run(parameters, django_capture_on_commit_callbacks, actor="test"):
    with django_capture_on_commit_callbacks(execute=True):
        started = coverage.start_coverage_run(parameters=parameters, actor=actor)
    return CoverageRun.objects.get(pk=started.pk)


def test_orders_are_served_by_the_warehouses_that_hold_their_stock(
    network, products, order_to, django_capture_on_commit_callbacks
):
    # Two orders to Dallas: one of SKU-A (DAL has it: zone 2), one of SKU-B (only EWR: zone 6). One to New York.
    order_to("DFW", [(products[0], 1)])
    order_to("DFW", [(products[1], 1)])
    order_to("NYC", [(products[0], 1)])

    done = run({"demand": "orders", "days": 30, "timing": "weekday"}, django_capture_on_commit_callbacks)

    assert done.status == CoverageRun.Status.DONE
    current = done.result["current"]["figures"]
    # The one ground service: 2 days in transit; EWR and DAL ship the next business day (1 processing day).
    assert current["within"] == {"1": 0.0, "2": 0.0, "3": 1.0}
    assert {site["code"]: site["share"] for site in current["sites"]} == {
        "DAL": pytest.approx(1 / 3),
        "EWR": pytest.approx(2 / 3),
    }
    assert current["mean_cost"] == "8.00"
    assert done.result["assumptions"]["ground_services"] == ["Road Parcel Ground"]
    assert done.progress_done == done.progress_total > 1


def test_the_what_if_stands_beside_the_network_as_it_is(
    network, products, order_to, django_capture_on_commit_callbacks
):
    order_to("DFW", [(products[0], 1)])
    order_to("NYC", [(products[0], 1)])

    done = run(
        {
            "demand": "orders",
            "days": 30,
            "timing": "weekday",
            "remove": ["DAL"],
            "changes": {"EWR": {"cutoff": "15:00", "processing_days": 0}},
            "add_postal_code": "75201",
            "add_processing_days": 0,
        },
        django_capture_on_commit_callbacks,
    )

    assert done.result["current"]["figures"]["within"]["2"] == 0.0
    whatif = done.result["whatif"]
    assert [site["code"] for site in whatif["sites"]] == ["EWR", "NEW-75201"]
    assert whatif["figures"]["within"]["2"] == 1.0  # same-day processing: picked up on the order day
    assert "remove DAL" in done.description and "add a site at 75201" in done.description


def test_a_suggested_site_comes_with_its_figures(network, ground, django_capture_on_commit_callbacks):
    # Ground by distance: 1 day within 150 miles, 2 within 300, 4 beyond.
    for zone, days in {2: 1, 3: 2}.items():
        ground.transit_times.filter(zone=zone).update(business_days=days)
    ground.transit_times.filter(zone__gte=4).update(business_days=4)

    done = run(
        {
            "demand": "file",
            "file_rows": [["90012", 10], ["90013", 5], ["10001", 1]],
            "file_name": "west.csv",
            "timing": "weekday",
            "suggest": True,
            "target_days": 2,
            "add_processing_days": 0,
        },
        django_capture_on_commit_callbacks,
    )

    # New York (1 of 16) is 2 business days from Edison (a processing day, 1 in transit); Los Angeles (15 of 16)
    # is 5 from EWR and DAL. A site beside Los Angeles with same-day processing brings it to 1.
    suggestion = done.result["suggestion"]
    assert done.result["current"]["figures"]["within"]["2"] == pytest.approx(1 / 16)
    assert suggestion["state"] == "CA"
    assert suggestion["figures"]["within"]["2"] == 1.0
    assert suggestion["figures"]["area_days"]["900"] == 1


def test_a_run_without_a_ground_service_fails_with_the_reason(sites, django_capture_on_commit_callbacks):
    done = run({"demand": "orders", "days": 30, "timing": "weekday"}, django_capture_on_commit_callbacks)

    assert done.status == CoverageRun.Status.FAILED
    assert "no active ground service" in done.error


def test_an_unknown_zip_code_or_warehouse_is_refused_before_anything_runs(network):
    with pytest.raises(coverage.CoverageRunError) as refused:
        coverage.start_coverage_run(parameters={"demand": "orders", "days": 7, "add_postal_code": "00000"}, actor="t")
    assert refused.value.field == "add_postal_code"
    with pytest.raises(coverage.CoverageRunError) as refused:
        coverage.start_coverage_run(parameters={"demand": "orders", "days": 7, "remove": ["NOPE"]}, actor="t")
    assert refused.value.field == "remove"
    assert not CoverageRun.objects.exists()


def test_a_finished_run_is_left_as_it_is_when_its_task_comes_again(network, django_capture_on_commit_callbacks):
    done = run(
        {"demand": "file", "file_rows": [["10001", 1]], "file_name": "a.csv"}, django_capture_on_commit_callbacks
    )

    assert coverage.run_coverage(run_id=done.pk) is None
    assert CoverageRun.objects.get(pk=done.pk).result == done.result


def test_the_week_timing_averages_over_every_hour_of_the_coming_week():
    instants = coverage.order_instants("week", today=dt.date(2026, 12, 9))

    assert len(instants) == 168
    assert instants[0].at.date() == dt.date(2026, 12, 14)  # the Monday after
    assert coverage.order_instants("weekday", today=dt.date(2026, 12, 9))[0].at.date() == dt.date(2026, 12, 15)


# --- the console ------------------------------------------------------------------------------------------------
def test_the_manager_runs_a_what_if_and_reads_the_figures_and_the_map(
    client, roles, network, products, order_to, django_capture_on_commit_callbacks
):
    order_to("NYC", [(products[0], 1)])
    order_to("DFW", [(products[0], 1)])
    signed_in(client, OPERATIONS_MANAGER)

    form = client.get(reverse("admin:orders_coveragerun_add"))
    assert form.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            reverse("admin:orders_coveragerun_add"),
            {
                "demand": "orders",
                "days": "30",
                "timing": "weekday",
                "parcel_kg": "1",
                "handling_cost": "1.50",
                "add_postal_code": "30303",
                "add_cutoff": "15:00",
                "add_processing_days": "0",
                "target_days": "2",
            },
        )
    run_ = CoverageRun.objects.get()
    assert answer.status_code == 302 and answer["Location"] == reverse(
        "admin:orders_coveragerun_change", args=[run_.pk]
    )

    page = client.get(answer["Location"]).content.decode()

    assert re.search(r'data-row="mean-cost"><th scope="row">Mean landed cost</th><td class="num">9.50</td>', page)
    assert 'data-column="whatif"' in page
    assert page.count('class="demand-dot') == 2 * 2  # two areas, on the current map and the what-if's
    assert 'class="warehouse-marker candidate" data-code="NEW-30303"' in page
    assert "<script>" not in page  # the Content-Security-Policy forbids inline scripts


def test_the_run_page_shows_a_progress_bar_while_the_run_works(client, roles, network):
    signed_in(client, OPERATIONS_MANAGER)
    waiting = coverage.start_coverage_run(parameters={"demand": "population", "timing": "weekday"}, actor="t")

    page = client.get(reverse("admin:orders_coveragerun_change", args=[waiting.pk])).content.decode()
    status = client.get(reverse("admin:orders_coveragerun_status", args=[waiting.pk])).json()

    assert 'id="coverage-progress"' in page and "orders/coverage.js" in page
    assert status == {
        "id": waiting.pk,
        "status": "queued",
        "status_label": "Queued",
        "running": True,
        "done": 0,
        "total": 1,
        "percent": 0,
        "error": "",
    }


def test_a_demand_file_with_bad_rows_is_refused_naming_each_row(client, roles, network):
    signed_in(client, OPERATIONS_MANAGER)
    upload = SimpleUploadedFile("demand.csv", b"postal_code,weight\n10001,3\n00000,1\n10002,many\n", "text/csv")

    answer = client.post(
        reverse("admin:orders_coveragerun_add"),
        {
            "demand": "file",
            "demand_file": upload,
            "timing": "weekday",
            "parcel_kg": "1",
            "handling_cost": "0",
            "target_days": "2",
        },
    )

    page = answer.content.decode()
    assert answer.status_code == 200
    assert (
        '<li data-line="3" data-field="postal_code">line 3, postal_code: &#x27;00000&#x27; is not a known US ZIP'
        in page
    )
    assert '<li data-line="4" data-field="weight">line 4, weight: &#x27;many&#x27; is not a number</li>' in page
    assert not CoverageRun.objects.exists()


def test_a_demand_file_is_kept_as_one_weight_per_zip_code(client, roles, network):
    signed_in(client, OPERATIONS_MANAGER)
    upload = SimpleUploadedFile("demand.csv", b"postal_code,weight\n10001,3\n75201,1\n10001,2\n", "text/csv")

    answer = client.post(
        reverse("admin:orders_coveragerun_add"),
        {"demand": "file", "demand_file": upload, "timing": "weekday", "parcel_kg": "1", "handling_cost": "0"}
        | {"target_days": "2"},
    )

    assert answer.status_code == 302
    kept = CoverageRun.objects.get().parameters
    assert kept["file_rows"] == [["10001", 5.0], ["75201", 1.0]]
    assert kept["file_row_count"] == 3
    assert CoverageRun.objects.get().description.startswith("The demand file demand.csv")


@pytest.mark.parametrize("role", [OPERATIONS_ASSOCIATE, RETURNS_ASSOCIATE, WAREHOUSE_STAFF])
def test_only_operations_managers_may_use_the_coverage_page(client, roles, network, role):
    done = CoverageRun.objects.create(description="earlier", parameters={"demand": "orders"})
    signed_in(client, role)

    for url in (
        reverse("admin:orders_coveragerun_add"),
        reverse("admin:orders_coveragerun_change", args=[done.pk]),
        reverse("admin:orders_coveragerun_status", args=[done.pk]),
        reverse("admin:orders_coveragerun_changelist"),
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("admin:orders_coveragerun_add"), {"demand": "population"}).status_code == 403
    assert not CoverageRun.objects.exclude(pk=done.pk).exists()


def test_the_cockpit_links_to_the_coverage_page_for_managers_only(client, roles):
    signed_in(client, OPERATIONS_MANAGER)
    assert 'id="cockpit-coverage"' in client.get(reverse("admin:index")).content.decode()

    signed_in(client, OPERATIONS_ASSOCIATE)
    home = client.get(reverse("admin:index")).content.decode()
    assert 'id="cockpit-kpis"' in home and 'id="cockpit-coverage"' not in home


def test_the_map_draws_one_dot_per_zip_area_however_its_orders_were_split():
    from orders.admin.coverage import _map_points

    areas = [
        {"key": "752:DAL,EWR", "lat": 32.8, "lon": -96.8, "weight": 3.0},
        {"key": "752:EWR", "lat": 32.8, "lon": -96.8, "weight": 1.0},
        {"key": "752:", "lat": 32.8, "lon": -96.8, "weight": 1.0},
        {"key": "100", "lat": 40.7, "lon": -74.0, "weight": 2.0},
    ]

    points = _map_points(areas, {"752:DAL,EWR": 1.0, "752:EWR": 5.0, "752:": None, "100": None})

    assert [(p.key, p.weight, p.days) for p in points] == [("752", 5.0, 2.0), ("100", 2.0, None)]
