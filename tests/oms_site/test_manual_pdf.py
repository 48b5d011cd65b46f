"""The manual printed: one PDF with every section, a table of contents whose entries link to the sections
and give their page numbers, and the PDF's outline (bookmarks) landing on the same pages."""

import io
import re
from decimal import Decimal

import pytest
from pypdf import PdfReader

from oms_site import roles as role_table
from oms_site.manual import services
from oms_site.manual.sections import sections_for
from shipping.models import CarrierService, TransitTime, Vendor
from tests.factories import UserFactory, WarehouseFactory
from tests.shipping.readback import pdf_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def printed(client, roles):
    """The PDF as a warehouse associate prints it, from a small configuration with one procedure."""
    manager = UserFactory(username="maya", first_name="Maya", last_name="Lindqvist", role=role_table.OPERATIONS_MANAGER)
    WarehouseFactory(code="DAL", name="Dallas")
    vendor = Vendor.objects.create(code="rapid", name="Rapid Air", tracking_prefix="RA", tracking_digits=10)
    service = CarrierService.objects.create(vendor=vendor, code="2DAY", name="Two day", max_weight_kg=Decimal("30"))
    TransitTime.objects.create(service=service, zone=5, business_days=2)
    services.create_procedure(
        slug="counting",
        title="Counting a bin",
        governs="counting",
        body="# Counting\n\nCount **every** unit. <script>alert(1)</script>",
        actor=manager,
    )
    client.force_login(UserFactory(username="wes", role=role_table.WAREHOUSE_STAFF))
    response = client.get("/admin/manual/operations-manual.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    return response.content


def printed_sections():
    """The sections the warehouse associate who printed the PDF may read, in the manual's order."""
    from django.contrib.auth import get_user_model

    return list(sections_for(get_user_model().objects.get(username="wes")).values())


def page_texts(reader: PdfReader) -> list[str]:
    return [" ".join((page.extract_text() or "").split()) for page in reader.pages]


def heading_page(texts: list[str], number: int, title: str) -> int:
    """The page (0-based) whose text starts a chapter with ``number. title``."""
    pages = [index for index, text in enumerate(texts) if f"{number}. {title}" in text and index > 1]
    assert pages, f"no page holds the heading {number}. {title}"
    return pages[0]


def test_the_pdf_holds_every_section_in_order_with_its_content(printed):
    reader = PdfReader(io.BytesIO(printed))
    texts = page_texts(reader)
    whole = " ".join(texts)

    assert texts[0].startswith("Operations manual")
    pages = [heading_page(texts, number, section.title) for number, section in enumerate(printed_sections(), 1)]
    assert pages == sorted(pages) and len(set(pages)) == len(pages)
    # each section's own content is in it, as configured now
    for words in ("DAL", "Rapid Air", "Two day", "Operations manager", "daily-inventory-check", "Counting a bin"):
        assert words in whole, words
    assert "Count every unit." in whole and "<script>alert(1)</script>" in whole  # the procedure's HTML as text


def test_the_table_of_contents_links_to_each_section_and_gives_its_page(printed):
    reader = PdfReader(io.BytesIO(printed))
    texts = page_texts(reader)
    contents = 1  # the page after the cover
    assert texts[contents].startswith("Contents")

    # each entry is a link whose destination is the page its section starts on
    named = reader.named_destinations
    targets = {}
    for annotation in reader.pages[contents].get("/Annots") or []:
        annotation = annotation.get_object()
        if annotation.get("/Subtype") != "/Link":
            continue
        action = annotation.get("/A")
        destination = annotation.get("/Dest") or (action.get("/D") if action else None)
        if isinstance(destination, str):
            destination = named[destination]
            page = reader.get_destination_page_number(destination)
        else:
            page = reader.get_page_number(destination[0].get_object())
        targets[page] = annotation
    for number, section in enumerate(printed_sections(), 1):
        start = heading_page(texts, number, section.title)
        assert start in targets, f"no contents link lands on page {start + 1} ({section.title})"
        # and the entry prints that page number (target-counter)
        assert re.search(rf"{number}\. {re.escape(section.title)}\s*\.*\s*{start + 1}\b", texts[contents]), (
            section.title
        )


def test_the_outline_has_a_bookmark_per_section_landing_on_its_page(printed):
    reader = PdfReader(io.BytesIO(printed))
    texts = page_texts(reader)
    top = [item for item in reader.outline if not isinstance(item, list)]
    titles = {item.title: reader.get_destination_page_number(item) for item in top}

    assert "Contents" in titles
    for number, section in enumerate(printed_sections(), 1):
        assert titles[f"{number}. {section.title}"] == heading_page(texts, number, section.title)


def test_pdftotext_reads_the_contents_with_page_numbers(printed, tmp_path):
    contents = pdf_text(printed, tmp_path, page=2)
    for number, section in enumerate(printed_sections(), 1):
        assert re.search(rf"{number}\. {re.escape(section.title)}[ .]+\d+\s*$", contents, re.M), section.title
