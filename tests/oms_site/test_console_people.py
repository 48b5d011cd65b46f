"""Who made or decided something reads as the person's name on every console page, never a link to a
user page the viewer may not open."""

import pytest
from django.urls import reverse

from inventory.models import CycleCount, ImportJob
from orders.services.channels import issue_api_key
from shipping.models import LabelBatch
from tests.factories import ChannelFactory, UserFactory, WarehouseFactory

pytestmark = pytest.mark.django_db

USER_PAGES = "/admin/auth/user/"


@pytest.fixture
def maria(db):
    return UserFactory(username="mlopez", first_name="Maria", last_name="Lopez", role="Operations manager")


@pytest.fixture
def tom(db):
    return UserFactory(username="tom")  # no name given: the username stands in


def opened_by(client, role: str, *urls: str) -> list[str]:
    client.force_login(UserFactory(username=role.lower().replace(" ", "-"), role=role))
    pages = []
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        pages.append(response.content.decode())
    return pages


def test_channel_page_names_who_issued_each_api_key(client, maria):
    channel = ChannelFactory()
    issue_api_key(channel_id=channel.pk, name="storefront", actor=maria)

    (page,) = opened_by(client, "Operations associate", reverse("admin:orders_channel_change", args=[channel.pk]))

    assert "Maria Lopez" in page
    assert USER_PAGES not in page


def test_label_batches_name_who_printed_them(client, maria):
    batch = LabelBatch.objects.create(created_by=maria)

    pages = opened_by(
        client,
        "Warehouse staff",
        reverse("admin:shipping_labelbatch_changelist"),
        reverse("admin:shipping_labelbatch_change", args=[batch.pk]),
    )

    for page in pages:
        assert "Maria Lopez" in page
        assert USER_PAGES not in page


def test_cycle_counts_name_who_started_and_who_decided(client, maria, tom):
    count = CycleCount.objects.create(warehouse=WarehouseFactory(), created_by=tom, decided_by=maria)

    changelist, change = opened_by(
        client,
        "Warehouse staff",
        reverse("admin:inventory_cyclecount_changelist"),
        reverse("admin:inventory_cyclecount_change", args=[count.pk]),
    )

    assert ">tom<" in changelist
    assert ">tom<" in change and "Maria Lopez" in change
    assert USER_PAGES not in changelist + change


def test_import_jobs_name_who_uploaded_and_who_confirmed(client, maria, tom):
    job = ImportJob.objects.create(
        kind="order", file_name="orders.csv", content="", uploaded_by=maria, confirmed_by=tom
    )

    changelist, change = opened_by(
        client,
        "Operations manager",
        reverse("admin:inventory_importjob_changelist"),
        reverse("admin:inventory_importjob_change", args=[job.pk]),
    )

    assert "Maria Lopez" in changelist
    assert "Maria Lopez" in change and ">tom<" in change
    assert USER_PAGES not in changelist + change
