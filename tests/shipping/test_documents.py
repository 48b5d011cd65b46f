"""The shipping documents, read back from the real output: pdftotext, pypdf, and zbarimg on 300-dpi pages."""

import datetime as dt
import io
import re
import shutil
from dataclasses import replace
from decimal import Decimal

import pytest
from pypdf import PdfReader
from weasyprint.urls import FatalURLFetchingError

from shipping.documents import (
    LabelData,
    PackingSlipData,
    PackingSlipLine,
    PickBin,
    PickItem,
    PickListData,
    PickWarehouse,
    PostalAddress,
    code128_svg,
    join_pdfs,
    render_labels_pdf,
    render_labels_zpl,
    render_packing_slip_pdf,
    render_pick_list_pdf,
)
from shipping.documents.pdf import html_to_pdf
from tests.shipping.readback import barcodes_by_page, page_count, pdf_text, run

needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext (Debian poppler-utils)")
needs_zbar = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("zbarimg") is None,
    reason="needs pdftoppm and zbarimg (Debian poppler-utils, zbar-tools)",
)


def has_cjk_font() -> bool:
    return shutil.which("fc-list") is not None and bool(run("fc-list", ":lang=zh", "family", check=False).strip())


WAREHOUSE = PostalAddress(
    name="Edison DC", company="Acme Outfitters", line1="100 Fulfillment Way", city="Edison", state="NJ",
    postal_code="08817",
)  # fmt: skip
CUSTOMER = PostalAddress(
    name="José Müller", line1="1200 Congress Ave", line2="Apt 4B", city="Austin", state="TX", postal_code="78701",
    phone="512-555-0199",
)  # fmt: skip


def make_label(**overrides) -> LabelData:
    values = {
        "tracking_number": "1Z999AA10123456784",
        "ship_from": WAREHOUSE,
        "ship_to": CUSTOMER,
        "vendor_name": "UPS",
        "service_name": "UPS Ground",
        "service_code": "GROUND",
        "weight_kg": Decimal("2.35"),
        "order_number": "ORD-000123",
        "parcel_index": 1,
        "parcel_count": 1,
        "ship_date": dt.date(2026, 11, 25),
        "dimensions_cm": "30 × 20 × 15",
        "warehouse_code": "EWR",
        "reference": "SHP-0042",
    }
    return LabelData(**{**values, **overrides})


def squeezed(text: str) -> str:
    """Runs of spaces as one, so phrases can be found whatever the layout's column padding."""
    return re.sub(r"[ \t]+", " ", text)


# --- Labels (PDF) ---


def test_every_label_page_is_4_by_6_inches():
    # Given three labels of one shipment
    labels = [make_label(tracking_number=f"1Z999AA1012345678{n}", parcel_index=n, parcel_count=3) for n in (1, 2, 3)]

    # When they are rendered as one document
    reader = PdfReader(io.BytesIO(render_labels_pdf(labels)))

    # Then it has one 288 × 432 pt page per label
    assert len(reader.pages) == 3
    for page in reader.pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == (288.0, 432.0)


@needs_pdftotext
def test_a_label_page_shows_both_addresses_the_service_and_its_parcel_number(tmp_path):
    # Given the three labels of one shipment
    labels = [make_label(tracking_number=f"1Z999AA1012345678{n}", parcel_index=n, parcel_count=3) for n in (1, 2, 3)]

    # When they are rendered and the second page is read back
    text = squeezed(pdf_text(render_labels_pdf(labels), tmp_path, page=2))

    # Then that page is the second parcel's label, with everything a carrier and a packer need
    for expected in [
        "1Z999AA10123456782",
        "Edison DC", "Edison, NJ 08817",  # ship from
        "José Müller", "1200 Congress Ave", "Apt 4B", "Austin, TX 78701",  # ship to
        "UPS", "UPS Ground", "GROUND",
        "ORD-000123", "SHP-0042", "EWR",
        "Parcel 2 of 3",
        "2026-11-25", "2.35 kg", "30 × 20 × 15 cm",
    ]:  # fmt: skip
        assert expected in text, expected
    assert "1Z999AA10123456781" not in text
    assert "1Z999AA10123456783" not in text


@needs_zbar
@pytest.mark.parametrize(
    "tracking_number",
    [
        "1Z999AA10123456784",  # UPS: letters then a digit run
        "794612345678",  # FedEx: 12 digits
        "9400111899223344556677",  # USPS: 22 digits
        "ab-12/Xy.z+%$Q",  # lowercase and symbols (Code 128 set B)
    ],
)
def test_the_barcode_decodes_to_the_exact_tracking_number(tracking_number, tmp_path):
    # Given a label
    pdf = render_labels_pdf([make_label(tracking_number=tracking_number)])

    # When its page is rasterised at 300 dpi and scanned
    pages = barcodes_by_page(pdf, tmp_path)

    # Then the one barcode on it is the tracking number, character for character
    assert pages == [[tracking_number]]


@needs_zbar
def test_each_page_of_a_multi_label_document_scans_to_its_own_number(tmp_path):
    # Given four labels with different tracking number shapes
    numbers = ["1Z999AA10123456784", "794612345678", "9400111899223344556677", "1Z999AA10123456785"]
    labels = [make_label(tracking_number=n, parcel_index=i, parcel_count=4) for i, n in enumerate(numbers, 1)]

    # When they are rendered as one document and each page is scanned
    pdf = render_labels_pdf(labels)

    # Then there is one page per label, in order, each with its own barcode only
    assert page_count(pdf) == 4
    assert barcodes_by_page(pdf, tmp_path) == [[n] for n in numbers]


def test_a_very_long_address_still_fits_on_one_page():
    # Given an address far longer than a label holds
    long = "Very Long Street Name " * 12
    ship_to = replace(CUSTOMER, name="Maximilian " * 10, company="Company " * 10, line1=long, line2=long)

    # When it is rendered with other labels
    pdf = render_labels_pdf([make_label(ship_to=ship_to), make_label(), make_label(ship_to=ship_to)])

    # Then every label is still exactly one page (the bands clip instead of overflowing)
    assert page_count(pdf) == 3


@needs_pdftotext
def test_label_text_is_escaped_and_non_ascii_survives(tmp_path):
    # Given a customer whose name looks like markup and has accents
    ship_to = replace(CUSTOMER, name="<b>Zoë</b> & Søren", line1='"><svg onload=x>')

    # When the label is rendered
    text = pdf_text(render_labels_pdf([make_label(ship_to=ship_to)]), tmp_path)

    # Then the markup is printed as text, not interpreted
    assert "<b>Zoë</b> & Søren" in text
    assert '"><svg onload=x>' in text


@needs_pdftotext
@pytest.mark.skipif(not has_cjk_font(), reason="needs a CJK font (e.g. Debian fonts-droid-fallback)")
def test_chinese_characters_render_with_a_cjk_font_installed(tmp_path):
    # Given a customer name in Chinese characters
    ship_to = replace(CUSTOMER, name="Zoë 北京", city="北京市")

    # When the label is rendered
    text = pdf_text(render_labels_pdf([make_label(ship_to=ship_to)]), tmp_path)

    # Then the characters come back out of the PDF
    assert "Zoë 北京" in text
    assert "北京市" in text


@pytest.mark.parametrize("tracking_number", ["", "1Z99é", "1Z\n99"])
def test_a_tracking_number_code_128_cannot_carry_is_refused(tracking_number):
    with pytest.raises(ValueError, match="Code 128"):
        render_labels_pdf([make_label(tracking_number=tracking_number)])


def test_the_barcode_is_an_inline_svg_with_no_text_and_no_prolog():
    # When a barcode is made
    svg = code128_svg("1Z999AA10123456784")

    # Then it is one inline <svg> element, bars only, no wider than the label
    assert svg.startswith("<svg ")
    assert svg.endswith("</svg>")
    assert "<?xml" not in svg
    assert "DOCTYPE" not in svg
    assert "<text" not in svg
    assert "1Z999AA10123456784" not in svg
    width_mm = float(re.search(r'width="([\d.]+)mm"', svg).group(1))
    assert 30 < width_mm <= 92


def test_documents_never_fetch_from_the_network():
    # Given HTML that references a remote image
    html = '<html><body><img src="https://example.com/logo.png"></body></html>'

    # When it is rendered, then the fetch is refused outright rather than attempted
    with pytest.raises(FatalURLFetchingError, match="offline"):
        html_to_pdf(html)


def test_no_labels_is_an_error():
    with pytest.raises(ValueError, match="no labels"):
        render_labels_pdf([])
    with pytest.raises(ValueError, match="no labels"):
        render_labels_zpl([])


# --- Labels (ZPL) ---


def zpl_fields(zpl: str) -> list[str]:
    return re.findall(r"\^FD(.*?)\^FS", zpl, flags=re.S)


def test_zpl_has_one_format_per_label_with_the_tracking_number_in_code_128():
    # Given two labels
    labels = [
        make_label(tracking_number="1Z999AA10123456784", parcel_index=1, parcel_count=2),
        make_label(tracking_number="794612345678", parcel_index=2, parcel_count=2),
    ]

    # When they are rendered as ZPL
    zpl = render_labels_zpl(labels)

    # Then each label is its own ^XA…^XZ format with a Code 128 of its tracking number
    formats = re.findall(r"\^XA.*?\^XZ", zpl, flags=re.S)
    assert len(formats) == 2
    assert zpl.count("^XA") == zpl.count("^XZ") == 2
    for label, zpl_format in zip(labels, formats, strict=True):
        barcode = re.search(r"\^BC[^\^]*\^FH_\^FD(.*?)\^FS", zpl_format)
        assert barcode is not None
        assert barcode.group(1) == label.tracking_number
        fields = zpl_fields(zpl_format)
        assert "GROUND" in fields
        assert "ORD-000123" in fields
        assert f"Parcel {label.parcel_index} of 2" in fields
        assert "José Müller" in fields
        assert "Austin, TX 78701" in fields
        assert "Edison DC" in fields
    assert "^CI28" in formats[0]  # UTF-8 field data


def test_a_caret_or_tilde_in_user_data_cannot_break_the_zpl():
    # Given a name and a reference with ZPL's command characters, our hex indicator, and a newline
    ship_to = replace(CUSTOMER, name="Evil ^XZ^XA Name ~JA", line1="Under_score\nSecond line")
    label = make_label(ship_to=ship_to, reference="^FS~")

    # When the label is rendered
    zpl = render_labels_zpl([label])

    # Then the format still opens and closes once, and no field carries a raw ^ or ~
    assert zpl.count("^XA") == 1
    assert zpl.count("^XZ") == 1
    fields = zpl_fields(zpl)
    assert all("^" not in field and "~" not in field for field in fields)
    # The characters are hex-escaped (^FH_), so the printer still prints them
    assert "Evil _5EXZ_5EXA Name _7EJA" in fields
    assert "Under_5Fscore Second line" in fields
    assert "Ref. _5EFS_7E" in fields


# --- Packing slips ---


def make_slip(**overrides) -> PackingSlipData:
    values = {
        "order_number": "ORD-000123",
        "placed_at": dt.date(2026, 11, 20),
        "ship_to": CUSTOMER,
        "ship_from": WAREHOUSE,
        "lines": [
            PackingSlipLine(
                sku="TSHIRT-RED-M",
                name="Red T-shirt, M",
                quantity_ordered=3,
                quantity_in_shipment=2,
                bin_location="A-12",
            ),
            PackingSlipLine(
                sku="MUG-ZOE", name="Mug “Zoë”", quantity_ordered=1, quantity_in_shipment=1, bin_location="B-3"
            ),
        ],
        "shipment_reference": "SHP-0042",
        "vendor_name": "UPS",
        "service_name": "UPS Ground",
        "tracking_numbers": ["1Z999AA10123456784", "1Z999AA10123456785"],
        "brand_name": "Acme Outfitters",
        "note": "Gift: no prices please",
    }
    return PackingSlipData(**{**values, **overrides})


@needs_pdftotext
def test_a_packing_slip_lists_the_lines_with_quantities_and_bins(tmp_path):
    # Given two shipments' slips
    slips = [make_slip(), make_slip(order_number="ORD-000124", shipment_reference="SHP-0043", note="")]

    # When they are rendered as one document
    pdf = render_packing_slip_pdf(slips)

    # Then each slip has its own US Letter page
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 2
    assert (float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height)) == (612.0, 792.0)
    first = squeezed(pdf_text(pdf, tmp_path, page=1))
    second = squeezed(pdf_text(pdf, tmp_path, page=2))
    assert "ORD-000123" in first
    assert "ORD-000124" not in first
    assert "ORD-000124" in second
    # And the first shows each line: SKU, name, bin, ordered, in this box, not in this box
    assert re.search(r"TSHIRT-RED-M Red T-shirt, M A-12 3 2 1\n", first)
    assert re.search(r"MUG-ZOE Mug “Zoë” B-3 1 1\n", first)
    assert re.search(r"Total units 4 3\n", first)
    for expected in ["José Müller", "Austin, TX 78701", "Edison DC", "1Z999AA10123456785", "UPS Ground", "SHP-0042"]:
        assert expected in first, expected
    assert "Gift: no prices please" in first


@needs_pdftotext
def test_a_long_packing_slip_continues_on_the_next_page(tmp_path):
    # Given a slip with 80 lines
    lines = [PackingSlipLine(sku=f"SKU-{n:03}", name=f"Item {n}", quantity_ordered=1, quantity_in_shipment=1)
             for n in range(80)]  # fmt: skip

    # When it is rendered
    pdf = render_packing_slip_pdf([make_slip(lines=lines)])

    # Then every line is printed, over more than one page, with the order named on each
    text = pdf_text(pdf, tmp_path)
    assert all(f"SKU-{n:03}" in text for n in range(80))
    assert page_count(pdf) >= 2
    assert "Order ORD-000123" in pdf_text(pdf, tmp_path, page=2)


# --- Pick lists ---


def make_pick_list() -> PickListData:
    return PickListData(
        title="Wave 3",
        generated_at=dt.datetime(2026, 11, 25, 9, 30, tzinfo=dt.UTC),
        warehouses=[
            PickWarehouse(
                code="EWR",
                name="Edison DC",
                bins=[
                    PickBin(bin_location="", items=[PickItem("STICKER", "Sticker", 1, ["ORD-9"])]),
                    PickBin(
                        bin_location="A-10",
                        items=[
                            PickItem("SKU-10", "Cap “Zoë”", 1, ["ORD-3"]),
                            PickItem("SKU-2", "Mug", 2, ["ORD-2", "ORD-1"]),
                        ],
                    ),
                    PickBin(bin_location="A-2", items=[PickItem("SKU-1", "Tee José", 5, ["ORD-1"])]),
                ],
            ),
            PickWarehouse(
                code="ATL",
                name="Atlanta DC",
                bins=[PickBin(bin_location="C-1", items=[PickItem("SKU-5", "Hat", 4, ["ORD-5"])])],
            ),
        ],
    )


@needs_pdftotext
def test_a_pick_list_groups_bins_under_their_warehouse_in_walking_order(tmp_path):
    # When a wave's pick list is rendered
    pdf = render_pick_list_pdf(make_pick_list())

    # Then each warehouse starts its own page
    assert page_count(pdf) == 2
    edison = squeezed(pdf_text(pdf, tmp_path, page=1))
    atlanta = squeezed(pdf_text(pdf, tmp_path, page=2))
    assert "EWR — Edison DC" in edison
    assert "SKU-5" not in edison
    assert "ATL — Atlanta DC" in atlanta
    assert "SKU-1 " not in atlanta
    # And bins come in natural order (A-2 before A-10, no bin last), items by SKU within a bin
    order = [edison.index(marker) for marker in ["Bin A-2", "SKU-1 ", "Bin A-10", "SKU-2 ", "SKU-10", "Bin (no bin)"]]
    assert order == sorted(order)
    # With quantities, the orders each pick is for, and totals per bin and warehouse
    assert re.search(r"SKU-2 Mug 2 ORD-1, ORD-2\n", edison)
    assert re.search(r"Bin A-10 3 2 SKUs\n", edison)
    assert re.search(r"Total EWR: 4 lines in 3 bins 9\n", edison)
    assert "Tee José" in edison
    assert "Cap “Zoë”" in edison
    assert "Pick list total: 5 lines, 13 units in 2 warehouses" in atlanta


# --- Joining parts ---


@needs_pdftotext
def test_joined_pdfs_keep_every_page_in_order(tmp_path):
    # Given three label documents of 2, 1 and 3 labels, rendered separately
    numbers = [f"1Z999AA1012345678{n}" for n in range(6)]
    parts = [
        render_labels_pdf([make_label(tracking_number=n) for n in numbers[start:end]])
        for start, end in [(0, 2), (2, 3), (3, 6)]
    ]

    # When they are joined
    joined = join_pdfs(parts)

    # Then page k of the result is label k
    assert page_count(joined) == 6
    for k, number in enumerate(numbers, 1):
        text = pdf_text(joined, tmp_path, page=k)
        assert number in text
        assert all(other not in text for other in numbers if other != number)


def test_joining_nothing_is_an_error():
    with pytest.raises(ValueError, match="no PDF"):
        join_pdfs([])


def test_postal_address_lines_leave_out_what_is_empty():
    # Given a US address without company and a German one
    us = PostalAddress(name="Ann", line1="1 Main St", city="Austin", state="TX", postal_code="78701")
    de = PostalAddress(
        name="Jörg", company="Firma", line1="Hauptstr. 1", city="Berlin", postal_code="10115", country="de"
    )

    # Then the printable lines are what a carrier expects
    assert us.lines == ["Ann", "1 Main St", "Austin, TX 78701"]
    assert de.lines == ["Jörg", "Firma", "Hauptstr. 1", "10115 Berlin", "DE"]


def test_label_weight_and_dimensions_read_the_same_however_they_are_given():
    # Given the weight as a 3-place decimal field gives it, and dimensions with or without their unit
    with_unit = make_label(weight_kg=Decimal("2.350"), dimensions_cm="30×20×15 cm")
    without_unit = make_label(weight_kg=Decimal("10.000"), dimensions_cm="30 × 20 × 15")

    # Then the label prints them once, without trailing zeros or a doubled unit
    assert with_unit.weight_text == "2.35 kg (5.2 lb)"
    assert with_unit.dimensions_text == "30×20×15 cm"
    assert without_unit.weight_text == "10 kg (22.0 lb)"
    assert without_unit.dimensions_text == "30 × 20 × 15 cm"
    assert make_label(dimensions_cm="").dimensions_text == ""
