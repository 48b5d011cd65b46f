"""X12 EDI as a warehouse partner meets it: the files we send read as we meant, theirs read as they meant,
and anything malformed is refused naming the segment and the element.

Samples in x12_samples/ are written by hand (004010 and 005010; ``*`` ``~`` ``>`` with CR/LF, ``|`` ``^``
and a newline as terminator, a file on one line), not by the writer under test.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_core import x12
from oms_core.x12 import (
    FunctionalAcknowledgement,
    InventoryAdvice,
    InventoryItem,
    InventoryQuantity,
    OrderLine,
    Party,
    ReceivedLine,
    Separators,
    ShippedLine,
    ShippedPackage,
    ShippingAdvice,
    ShippingOrder,
    StockReceipt,
    TradingPartner,
    X12Error,
)

SAMPLES = Path(__file__).parent / "x12_samples"
WHEN = dt.datetime(2026, 12, 6, 9, 30, tzinfo=dt.UTC)
PIPES = Separators(element="|", component="^", segment="\n", repetition="~", suffix="")


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def sample_text(name: str) -> str:
    return sample(name).decode("ascii")


def the_order() -> ShippingOrder:
    return ShippingOrder(
        shipment_id="SHP-1001",
        order_number="ORD-55",
        lines=(
            OrderLine("SKU-1", Decimal(2), upc="012345678905", description="Blue mug", line_reference="1"),
            OrderLine("SKU-2", Decimal(3), line_reference="2"),
        ),
        parties=(
            Party(
                "ST",
                "Jane Doe",
                address_lines=("1 Main St", "Apt 2"),
                city="Austin",
                state="TX",
                postal_code="78701",
                country="US",
                contact_name="Jane Doe",
                phone="5125550100",
            ),
            Party("DE", "Demo Brand", id_qualifier="91", id_code="DEMO"),
        ),
        requested_ship_date=dt.date(2026, 12, 7),
        carrier="UPSN",
        service_level="GROUND",
        instructions="Gift wrap, no invoice",
        weight_lb=Decimal("4.5"),
    )


class Numbers:
    """A caller's allocator: numbers it hands out, per kind, from where its database left off."""

    def __init__(self, interchange: int, group: int, transaction_set: int):
        self.next = {x12.INTERCHANGE: interchange, x12.GROUP: group, x12.TRANSACTION_SET: transaction_set}
        self.asked: list[str] = []

    def next_control_number(self, kind: str) -> int:
        self.asked.append(kind)
        number = self.next[kind]
        self.next[kind] += 1
        return number


def write(documents, *, version=x12.VERSION_4010, separators=None, numbers=None, **partner) -> tuple:
    partner = TradingPartner(
        our_id=partner.pop("our_id", "OMSDEMO"),
        their_id=partner.pop("their_id", "ACME3PL"),
        version=version,
        separators=separators or Separators(),
        **partner,
    )
    return x12.write_interchange(
        documents, partner=partner, next_control_number=numbers or x12.CounterControlNumbers(), when=WHEN
    )


# --- the hand-written samples ------------------------------------------------------------------------


def test_the_940_we_write_is_byte_for_byte_the_hand_written_sample():
    # given the order of the sample, and the control numbers the database hands out next
    numbers = Numbers(interchange=1001, group=2001, transaction_set=3001)
    # when it is written for a partner on 004010 with * ~ > and CR/LF after each segment, as a test interchange
    interchange, text = write([the_order()], numbers=numbers, separators=Separators(suffix="\r\n"), test=True)
    # then the file is the sample, and the numbers used are the ones handed out
    assert text == sample_text("940_4010_star_tilde_crlf.edi")
    assert numbers.asked == [x12.INTERCHANGE, x12.GROUP, x12.TRANSACTION_SET]
    assert interchange.control_number == 1001
    assert interchange.groups[0].control_number == 2001
    assert interchange.groups[0].transaction_sets[0].control_number == "3001"


def test_the_940_sample_reads_back_as_the_order():
    [(group, transaction_set, order)] = x12.read_documents(sample("940_4010_star_tilde_crlf.edi"))
    assert (group.functional_id, group.version, group.control_number) == ("OW", "004010", 2001)
    assert transaction_set.control_number == "3001"
    assert order == the_order()
    assert order.ship_to().city == "Austin"
    assert order.total_quantity == 5


def test_a_945_from_the_partner_reads_as_packages_with_tracking_and_quantities():
    # given the warehouse's 945 for our shipment SHP-1001 (004010, * ~ >, a newline after each segment)
    [(group, _, advice)] = x12.read_documents(sample("945_4010_star_tilde.edi"))
    # then it names our shipment, the ship date and time, the carrier and service, each package's tracking
    assert group.functional_id == "SW"
    assert isinstance(advice, ShippingAdvice)
    assert advice.shipment_id == "SHP-1001"
    assert advice.order_number == "ORD-55"
    assert advice.warehouse_shipment_id == "ACME-778812"
    assert advice.ship_date == dt.date(2026, 12, 6)
    assert advice.shipped_time == dt.time(14, 2)
    assert (advice.carrier, advice.service_level, advice.bill_of_lading) == ("UPSN", "GROUND", "BOL-99812")
    assert [package.tracking_number for package in advice.packages] == ["1Z999AA10123456784", "1Z999AA10123456791"]
    assert advice.packages[0].package_id == "00000999990000012345"
    # and the lines shipped, short shipped included
    short = advice.packages[1].lines[0]
    assert (short.sku, short.quantity_ordered, short.quantity_shipped, short.quantity_difference) == (
        "SKU-2",
        3,
        1,
        2,
    )
    assert short.status == "CP"
    assert short.lot == "LOT-7"
    assert advice.shipped_quantities() == {"SKU-1": 2, "SKU-2": 1}
    assert advice.weight_lb == Decimal("4.5")
    assert [p.role for p in advice.parties] == ["ST", "WH"]


def test_an_846_in_5010_with_pipes_carets_and_newline_terminators_reads_as_stock_per_sku():
    interchange = x12.read_interchange(sample("846_5010_pipe_caret_newline.edi"))
    assert (interchange.separators.element, interchange.separators.component) == ("|", "^")
    assert interchange.separators.segment == "\n"
    assert interchange.separators.repetition == "~"
    assert interchange.version == "00501"
    [(group, _, advice)] = x12.read_documents(sample("846_5010_pipe_caret_newline.edi"))
    assert group.version == "005010"
    assert isinstance(advice, InventoryAdvice)
    assert (advice.as_of_date, advice.as_of_time) == (dt.date(2026, 12, 6), dt.time(5, 55))
    assert [(item.sku, item.on_hand) for item in advice.items] == [
        ("SKU-1", 120),
        ("SKU-2", 0),
        ("SKU-3", Decimal("45.5")),
    ]
    assert advice.items[0].quantity("74") == 3  # damaged
    assert advice.items[0].upc == "012345678905"
    assert advice.parties[0].id_code == "RNO1"


def test_a_944_in_5010_on_one_line_reads_as_the_receipt():
    [(group, _, receipt)] = x12.read_documents(sample("944_5010_one_line.edi"))
    assert group.functional_id == "RE"
    assert isinstance(receipt, StockReceipt)
    assert (receipt.receipt_number, receipt.reference, receipt.received_date) == (
        "R-5531",
        "ASN-0042",
        dt.date(2026, 12, 5),
    )
    assert [(line.sku, line.quantity, line.lot) for line in receipt.lines] == [
        ("SKU-1", 100, ""),
        ("SKU-3", 24, "LOT-A"),
    ]


def test_a_997_from_the_partner_says_which_of_our_sets_it_accepted():
    [(_, _, ack)] = x12.read_documents(sample("997_4010_partial.edi"))
    assert isinstance(ack, FunctionalAcknowledgement)
    assert (ack.functional_id, ack.group_control_number, ack.status) == ("OW", 2001, "P")
    assert ack.set_status("3001").accepted
    rejected = ack.set_status("3002")
    assert not rejected.accepted
    assert rejected.error_codes == ("5",)
    [segment_error] = rejected.segment_errors
    assert (segment_error.segment_id, segment_error.position, segment_error.code) == ("N4", 5, "8")
    assert segment_error.element_errors[0].position == 2
    assert segment_error.element_errors[0].code == "7"
    assert segment_error.element_errors[0].bad_value == "XX"
    assert (ack.sets_included, ack.sets_received, ack.sets_accepted) == (2, 2, 1)


def test_a_file_with_two_interchanges_reads_both():
    text = sample_text("945_4010_star_tilde.edi") + sample_text("846_5010_pipe_caret_newline.edi")
    interchanges = x12.read_interchanges(text)
    assert [i.control_number for i in interchanges] == [417, 418]
    assert [type(d).__name__ for _, _, d in x12.read_documents(text)] == ["ShippingAdvice", "InventoryAdvice"]
    with pytest.raises(X12Error, match="holds 2 interchanges"):
        x12.read_interchange(text)


# --- round trips -----------------------------------------------------------------------------------


def the_advice() -> ShippingAdvice:
    return ShippingAdvice(
        shipment_id="SHP-1001",
        ship_date=dt.date(2026, 12, 6),
        shipped_time=dt.time(14, 2, 30),
        packages=(
            ShippedPackage(
                (ShippedLine("SKU-1", Decimal(2), Decimal(2)),),
                package_id="00000999990000012345",
                tracking_number="1Z1",
            ),
            ShippedPackage(
                (ShippedLine("SKU-2", Decimal(1), Decimal(3), status="CP", lot="L7", line_reference="2"),),
                tracking_number="1Z2",
            ),
        ),
        warehouse_shipment_id="W-1",
        order_number="ORD-55",
        carrier="FDEG",
        service_level="HOME",
        tracking_number="MASTER-1",
        bill_of_lading="BOL-1",
        weight_lb=Decimal("7.25"),
        parties=(Party("WH", "Reno", id_qualifier="91", id_code="RNO1", email="ops@example.com"),),
    )


def the_inventory() -> InventoryAdvice:
    return InventoryAdvice(
        report_id="INV-1",
        as_of_date=dt.date(2026, 12, 6),
        as_of_time=dt.time(5, 55),
        items=(
            InventoryItem(
                "SKU-1",
                (InventoryQuantity("33", Decimal(120)), InventoryQuantity("74", Decimal(3))),
                upc="012345678905",
                description="Blue mug",
            ),
            InventoryItem("SKU-2", ()),
        ),
    )


def the_receipt() -> StockReceipt:
    return StockReceipt(
        receipt_number="R-1",
        received_date=dt.date(2026, 12, 5),
        reference="ASN-42",
        lines=(ReceivedLine("SKU-1", Decimal(100), upc="012345678905"), ReceivedLine("SKU-3", Decimal(24), lot="A")),
    )


def the_acknowledgement(version: str) -> FunctionalAcknowledgement:
    return FunctionalAcknowledgement(
        functional_id="SW",
        group_control_number=417,
        status="P",
        sets=(
            x12.SetAcknowledgement("945", "0001", "A"),
            x12.SetAcknowledgement(
                "945",
                "0002",
                "R",
                ("5",),
                (
                    x12.SegmentError(
                        "W06",
                        2,
                        "8",
                        element_errors=(
                            x12.ElementError(
                                3,
                                "8",
                                373,
                                component=1 if version == x12.VERSION_5010 else None,  # AK401 is a composite in 5010
                                bad_value="20261340",
                            ),
                        ),
                    ),
                    x12.SegmentError("W27", 9, "3"),
                ),
            ),
        ),
        sets_included=2,
        sets_received=2,
        sets_accepted=1,
        group_version=version if version == x12.VERSION_5010 else "",
    )


@pytest.mark.parametrize("version", [x12.VERSION_4010, x12.VERSION_5010])
@pytest.mark.parametrize("separators", [Separators(), PIPES, Separators("^", ":", "'", "{", suffix="\r\n")])
def test_every_document_kind_reads_back_as_written(version, separators):
    documents = [the_order(), the_advice(), the_inventory(), the_receipt(), the_acknowledgement(version)]
    interchange, text = write(documents, version=version, separators=separators)
    read = x12.read_documents(text)
    assert [document for _, _, document in read] == documents
    # one group per kind, each with its own control number and version
    assert [g.functional_id for g in interchange.groups] == ["OW", "SW", "IB", "RE", "FA"]
    assert {g.version for g, _, _ in read} == {version}
    assert x12.read_interchange(text).separators.element == separators.element


def test_the_writer_numbers_envelopes_from_the_allocator_and_counts_them():
    # given two 940s and an 846, and numbers the database hands out from where it left off
    numbers = Numbers(interchange=7, group=41, transaction_set=9998)
    second = ShippingOrder("SHP-2", "ORD-2", (OrderLine("SKU-9", Decimal(1)),), parties=the_order().parties)
    _, text = write([the_order(), the_inventory(), second], numbers=numbers)
    lines = text.splitlines()
    # then ISA13 and IEA02 are 9 digits, zero padded; GS06/GE02 and ST02/SE02 pair up
    assert lines[0].split("*")[13] == "000000007"
    assert lines[-1] == "IEA*2*000000007~"
    gs = [line for line in lines if line.startswith("GS*")]
    ge = [line for line in lines if line.startswith("GE*")]
    assert [line.split("*")[6] for line in gs] == ["41", "42"]
    assert ge == ["GE*2*41~", "GE*1*42~"]  # the two 940s share the OW group
    st = [line.split("*")[2].rstrip("~") for line in lines if line.startswith("ST*")]
    assert st == ["9998", "10000", "9999"]  # in the order written; the 846's group comes second
    assert numbers.asked.count(x12.TRANSACTION_SET) == 3
    # and each SE01 counts its set's segments, ST and SE included
    reread = x12.read_interchange(text)
    assert [len(ts.segments) + 2 for ts in reread.transaction_sets()] == [
        int(line.split("*")[1]) for line in lines if line.startswith("SE*")
    ]


def test_a_plain_function_can_hand_out_the_numbers():
    handed = iter(range(500, 600))
    interchange, text = x12.write_interchange(
        [the_receipt()],
        partner=TradingPartner(our_id="OMS", their_id="P"),
        next_control_number=lambda kind: next(handed),
        when=WHEN,
    )
    assert (interchange.control_number, interchange.groups[0].control_number) == (500, 501)
    assert "ST*944*0502~" in text


@pytest.mark.parametrize("number", [0, -1, 1_000_000_000, "12"])
def test_a_control_number_outside_1_to_999999999_is_refused(number):
    with pytest.raises(X12Error, match="interchange control number"):
        write([the_receipt()], numbers=lambda kind: number)


def test_isa_fields_are_padded_to_their_fixed_width():
    _, text = write([the_receipt()], our_id="OMS", their_id="P1", our_qualifier="01", their_qualifier="12")
    isa = text.split("~")[0]
    assert len(isa) + 1 == x12.ISA_LENGTH
    fields = isa.split("*")
    assert fields[5:9] == ["01", "OMS            ", "12", "P1             "]
    assert (fields[9], fields[10], fields[11], fields[12]) == ("261206", "0930", "U", "00401")


def test_5010_writes_the_repetition_separator_in_isa11():
    _, text = write([the_receipt()], version=x12.VERSION_5010, separators=PIPES)
    isa = text.split("\n")[0]
    assert isa.split("|")[11:13] == ["~", "00501"]
    assert isa.endswith("|^")
    assert "GS|RE|OMSDEMO|ACME3PL|20261206|0930|1|X|005010" in text


# --- the writer refuses what the partner could not read ---------------------------------------------------


def test_a_value_holding_a_separator_is_refused_naming_the_segment_and_element():
    order = the_order()
    order = ShippingOrder(**{**order.__dict__, "instructions": "Ring twice~then leave"})
    with pytest.raises(X12Error) as refused:
        write([order])
    assert refused.value.segment == "NTE"
    assert refused.value.element == "NTE02"
    assert "separator '~'" in str(refused.value)


def test_a_value_too_long_is_refused_before_any_control_number_is_taken():
    numbers = Numbers(1, 1, 1)
    order = ShippingOrder("S" * 23, "ORD-1", (OrderLine("SKU-1", Decimal(1)),))
    with pytest.raises(X12Error) as refused:
        write([order], numbers=numbers)
    assert re.match(r"^940 S+: segment 2 \(W05\): W0502", str(refused.value))
    assert "1 to 22 characters" in str(refused.value)
    assert numbers.asked == []


def test_text_outside_ascii_is_refused_and_plain_text_folds_it():
    party = Party("ST", "José Müller", address_lines=("Straße 1",), city="Köln", country="DE")
    order = ShippingOrder("SHP-1", "ORD-1", (OrderLine("SKU-1", Decimal(1)),), parties=(party,))
    with pytest.raises(X12Error) as refused:
        write([order])
    assert (refused.value.segment, refused.value.element) == ("N1", "N102")
    assert x12.plain_text("José Müller, Straße 1\u200b") == "Jose Muller, Strae 1"
    assert x12.plain_text("A" * 70, 60) == "A" * 60


def test_a_945_package_without_lines_is_refused():
    advice = ShippingAdvice("SHP-1", dt.date(2026, 12, 6), (ShippedPackage(()),))
    with pytest.raises(X12Error, match=r"945 SHP-1: segment \d+ \(W03\): W12 is required and missing"):
        write([advice])


def test_a_4010_partner_may_use_the_caret_as_component_separator():
    # 004010 has no repetition separator: the default one (^) does not stand in the way
    separators = Separators("|", "^", "\n", suffix="")
    _, text = write([the_receipt()], separators=separators)
    assert text.splitlines()[0].endswith("|U|00401|000000001|0|P|^")
    assert [d for _, _, d in x12.read_documents(text)] == [the_receipt()]
    with pytest.raises(X12Error, match="must differ"):
        write([the_receipt()], separators=separators, version=x12.VERSION_5010)


def test_separators_that_clash_are_refused():
    with pytest.raises(X12Error, match="must differ"):
        write([the_receipt()], separators=Separators("*", "*", "~"))
    with pytest.raises(X12Error, match="not a letter or digit"):
        write([the_receipt()], separators=Separators("A", ">", "~"))


# --- malformed input: the error names the segment and the element ---------------------------------------


def test_a_wrong_segment_count_names_the_se_and_both_counts():
    text = sample_text("945_4010_star_tilde.edi").replace("SE*18*0001", "SE*17*0001")
    with pytest.raises(X12Error) as refused:
        x12.read_interchange(text)
    assert str(refused.value) == "segment 20 (SE): SE01 says 17 segments, the set has 18"
    assert (refused.value.position, refused.value.segment, refused.value.element) == (20, "SE", "SE01")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("SE*18*0001", "SE*18*0002"), "segment 20 (SE): SE02 '0002' does not match ST02 '0001'"),
        (("GE*1*417", "GE*2*417"), "segment 21 (GE): GE01 says 2 transaction sets, the group has 1"),
        (("GE*1*417", "GE*1*416"), "segment 21 (GE): GE02 '416' does not match GS06 417"),
        (("IEA*1*000000417", "IEA*1*000000416"), "segment 22 (IEA): IEA02 '000000416' does not match ISA13"),
        (("IEA*1*", "IEA*2*"), "segment 22 (IEA): IEA01 says 2 functional groups, the interchange has 1"),
        (("SE*18*0001~\n", ""), "segment 20 (GE): the 945 set 0001 (ST at segment 3) has no SE"),
        (("GE*1*417~\n", ""), "segment 21 (IEA): the group 417 (GS at segment 2) has no GE before this IEA"),
        (
            ("GS*SW*ACME3PL*OMSDEMO*20261206*1415*417*X*004010", "GS*SW*A*B*20261206*1415*417*X*003050"),
            "segment 2 (GS): GS08 '003050' is not a version",
        ),
        (("ST*945*0001", "ST*945*01"), "segment 3 (ST): ST02 '01' is not a control number of 4 to 9 digits"),
        (
            ("N9*BM*BOL-99812~\n", "N9*BM*BOL-99812~\nBOGUS*1~\nSE*9*0001~\n"),
            "segment 12 (G62): G62 between sets: a segment belongs between ST and SE",
        ),
    ],
)
def test_envelope_errors_name_the_segment_and_element(change, expected):
    text = sample_text("945_4010_star_tilde.edi").replace(*change)
    assert text != sample_text("945_4010_star_tilde.edi")
    with pytest.raises(X12Error) as refused:
        x12.read_interchange(text)
    assert str(refused.value).startswith(expected)


def test_a_missing_iea_is_named():
    text = sample_text("945_4010_star_tilde.edi").replace("IEA*1*000000417~\n", "")
    with pytest.raises(X12Error, match=r"^segment 22 \(IEA\): the interchange 000000417 ends without IEA"):
        x12.read_interchange(text)


def test_a_file_cut_off_inside_a_segment_is_named():
    text = sample_text("945_4010_star_tilde.edi")
    cut = text[: text.index("W03*") + 6]
    with pytest.raises(X12Error, match=r"^segment 19: the interchange ends inside a segment \('W03\*3\*'\)"):
        x12.read_interchange(cut)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ISA*00*          *00*      ", "segment 1 (ISA): the ISA is cut short or malformed (27 characters"),
        ("", "segment 1: the file is empty"),
        ("GS*SW*A*B~", "segment 1 (ISA): expected an ISA segment"),
    ],
)
def test_a_truncated_or_missing_isa_is_named(text, expected):
    with pytest.raises(X12Error) as refused:
        x12.read_interchange(text)
    assert str(refused.value).startswith(expected)


ISA_START = "ISA*00*          *00*          *ZZ*A              *ZZ*B              *261206*0931*"


@pytest.mark.parametrize(
    ("isa", "element"),
    [
        (
            ISA_START + "U*00301*000000419*0*P*>~",
            "ISA12",
        ),
        (
            ISA_START + "U*00401*000000419*0*P**~",
            "ISA16",
        ),
        (
            ISA_START + ">*00501*000000419*0*P*>~",
            "ISA16",
        ),
        (
            ISA_START + "U*00401*00000041X*0*P*>~",
            "ISA13",
        ),
    ],
)
def test_an_isa_with_an_unknown_version_clashing_separators_or_a_bad_number_is_named(isa, element):
    assert len(isa) == x12.ISA_LENGTH
    with pytest.raises(X12Error) as refused:
        x12.read_interchange(isa + "IEA*0*000000419~")
    assert (refused.value.position, refused.value.segment, refused.value.element) == (1, "ISA", element)


def test_an_isa_field_of_the_wrong_width_is_named():
    text = sample_text("945_4010_star_tilde.edi").replace("*ZZ*ACME3PL        *", "*ZZ*ACME3PL       *", 1)
    with pytest.raises(X12Error) as refused:
        x12.read_interchange(text)
    assert refused.value.element == "ISA06"
    assert "ISA06 'ACME3PL       ' is 14 characters; the ISA is fixed width and ISA06 takes 15" in str(refused.value)


def test_non_ascii_bytes_are_named_with_their_segment_and_element():
    data = sample("945_4010_star_tilde.edi").replace(b"N1*ST*Jane Doe", "N1*ST*Jané Doe".encode())
    with pytest.raises(X12Error) as refused:
        x12.read_interchange(data)
    assert (refused.value.position, refused.value.segment, refused.value.element) == (5, "N1", "N102")
    assert "outside ASCII" in str(refused.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("W06*F*SHP-1001*20261206", "W06*F*SHP-1001*20261306"), "segment 4 (W06): W0603 ('20261306') is not a date"),
        (("W27*U*UPSN*GROUND~\n", ""), "segment 11 (LX): W27 is required and missing in the 945 (found LX)"),
        (
            ("W12*CC*2*2*0*EA**VN*SKU-1", "W12*CC*2*X*0*EA**VN*SKU-1"),
            "segment 14 (W12): W1203 ('X') holds a character its type does not allow",
        ),
        (
            ("W12*CC*2*2*0*EA**VN*SKU-1", "W12*CC*2*2*0*EA**VN"),
            "segment 14 (W12): W1208 is required with the element it pairs with",
        ),
        (("W03*3*4.5*LB", "W03*4*4.5*LB"), "segment 19 (W03): W0301 says 4 units shipped, the lines add up to 3"),
        (("N9*BM*BOL-99812", "ZZZ*BM*BOL-99812"), "segment 9 (ZZZ): ZZZ is not a segment this reader knows"),
        (("N9*BM*BOL-99812", "W05*N*BOL-99812"), "segment 9 (W05): W05 does not belong in this transaction set"),
        (("N1*ST*Jane Doe", "N1*ST*" + "J" * 61), "segment 5 (N1): N102 ('" + "J" * 61 + "') is too long: 1 to 60"),
    ],
)
def test_content_errors_name_the_segment_and_element(change, expected):
    text = sample_text("945_4010_star_tilde.edi").replace(*change)
    if change[1] == "":  # a segment removed: the count follows, so that only the content is wrong
        text = text.replace("SE*18*0001", "SE*17*0001")
    with pytest.raises(X12Error) as refused:
        x12.read_documents(text)
    assert str(refused.value).startswith(expected)


def test_an_unknown_transaction_set_is_refused_naming_st01():
    text = sample_text("945_4010_star_tilde.edi").replace("ST*945*0001", "ST*856*0001")
    with pytest.raises(X12Error, match=r"^segment 3 \(ST\): ST01 '856' is not a set this reader knows"):
        x12.read_documents(text)


# --- acknowledging ---------------------------------------------------------------------------------


def two_sets_one_bad() -> str:
    """A 945 group of three sets: the 1st good, the 2nd with an impossible date and no W27, the 3rd good."""
    good = sample_text("945_4010_star_tilde.edi").splitlines()
    body = good[2:20]  # ST .. SE of the sample
    bad = [
        line.replace("20261206*ACME", "20261340*ACME").replace("*0001~", "*0002~")
        for line in body
        if not line.startswith("W27*")
    ]
    bad[-1] = "SE*17*0002~"
    third = [line.replace("*0001~", "*0003~") for line in body]
    lines = [*good[:2], *body, *bad, *third, "GE*3*417~", good[-1]]
    return "\n".join(lines) + "\n"


def test_a_997_rejects_the_bad_set_and_accepts_the_good_ones_of_the_same_group():
    # given a group whose 2nd set has a date that does not exist and lacks its W27
    text = two_sets_one_bad()
    # when it is acknowledged
    [ack] = x12.acknowledge(text)
    # then the group is partially accepted: sets 1 and 3 accepted, set 2 rejected with what is wrong and where
    assert (ack.functional_id, ack.group_control_number, ack.status) == ("SW", 417, "P")
    assert [(s.control_number, s.status) for s in ack.sets] == [("0001", "A"), ("0002", "R"), ("0003", "A")]
    assert (ack.sets_included, ack.sets_received, ack.sets_accepted) == (3, 3, 2)
    rejected = ack.sets[1]
    assert rejected.error_codes == (x12.SET_SEGMENTS_IN_ERROR,)
    date_error, missing = rejected.segment_errors
    assert (date_error.segment_id, date_error.position, date_error.code) == ("W06", 2, x12.SEGMENT_HAS_ELEMENT_ERRORS)
    assert date_error.element_errors == (x12.ElementError(3, x12.ELEMENT_INVALID_DATE, 373, bad_value="20261340"),)
    assert (missing.segment_id, missing.code) == ("W27", x12.SEGMENT_MANDATORY_MISSING)
    # and the good sets can be read, the bad one cannot
    interchange = x12.read_interchange(text, strict=False)
    sets = interchange.transaction_sets()
    assert x12.parse_document(sets[0]).shipment_id == "SHP-1001"
    with pytest.raises(X12Error, match=r"^segment 22 \(W06\): W0603"):
        x12.parse_document(sets[1])


@pytest.mark.parametrize("version", [x12.VERSION_4010, x12.VERSION_5010])
def test_the_997_is_written_back_to_the_partner_and_reads_as_the_same_answer(version):
    [ack] = x12.acknowledge(two_sets_one_bad())
    partner = TradingPartner(our_id="OMSDEMO", their_id="ACME3PL", version=version)
    _, text = x12.write_interchange([ack], partner=partner, next_control_number=x12.CounterControlNumbers(), when=WHEN)
    assert "AK1*SW*417" in text
    assert "AK3*W06*2**8~\nAK4*3*373*8*20261340~" in text
    assert "AK5*R*5~" in text
    assert "AK9*P*3*3*2~" in text
    [(_, _, reread)] = x12.read_documents(text)
    expected_version = "004010" if version == x12.VERSION_5010 else ""
    assert reread == ack.__class__(**{**ack.__dict__, "group_version": expected_version})


def test_a_set_holding_text_outside_ascii_is_rejected_and_the_others_accepted():
    # given a group of two sets, the 2nd with a name typed with an accent (the 3PL's system let it through)
    good = sample_text("945_4010_star_tilde.edi").splitlines()
    body = good[2:20]
    accented = [line.replace("*0001~", "*0002~").replace("Jane Doe", "Jané Doe") for line in body]
    data = "\n".join([*good[:2], *body, *accented, "GE*2*417~", good[-1]]).encode()
    # when it is read strictly, the character is named with its segment and element
    with pytest.raises(X12Error, match=r"^segment 23 \(N1\): N102 holds 'é' \(character 4\), outside ASCII"):
        x12.read_interchange(data)
    # and when acknowledged, that set is rejected (AK4 code 6) and the other accepted
    [ack] = x12.acknowledge(data)
    assert [(s.control_number, s.status) for s in ack.sets] == [("0001", "A"), ("0002", "R")]
    assert ack.status == "P"
    [segment_error] = ack.sets[1].segment_errors
    assert (segment_error.segment_id, segment_error.position) == ("N1", 3)
    assert segment_error.element_errors[0].code == x12.ELEMENT_INVALID_CHARACTER
    _, written = write([ack])
    assert "AK4*2*93*6*Jane Doe~" in written  # the copy of the bad value, folded to ASCII


def test_a_set_with_a_wrong_count_is_rejected_with_ak5_code_4():
    text = sample_text("945_4010_star_tilde.edi").replace("SE*18*0001", "SE*19*0001")
    [ack] = x12.acknowledge(text)
    assert ack.status == "R"
    assert ack.sets[0].error_codes == (x12.SET_SEGMENT_COUNT_WRONG,)
    assert ack.sets_accepted == 0


def test_a_group_whose_trailer_miscounts_is_rejected_whole():
    text = sample_text("945_4010_star_tilde.edi").replace("GE*1*417", "GE*2*417")
    [ack] = x12.acknowledge(text)
    assert (ack.status, ack.error_codes, ack.sets_included, ack.sets_received) == ("R", ("5",), 2, 1)
    assert [s.status for s in ack.sets] == ["R"]


def test_a_set_we_do_not_take_is_rejected_as_not_supported():
    text = sample_text("945_4010_star_tilde.edi").replace("ST*945*0001", "ST*856*0001")
    [ack] = x12.acknowledge(text)
    assert ack.sets[0].error_codes == (x12.SET_NOT_SUPPORTED,)
    assert ack.status == "R"


def test_every_group_gets_its_997_and_997s_get_none():
    text = "".join(
        sample_text(name)
        for name in ("945_4010_star_tilde.edi", "846_5010_pipe_caret_newline.edi", "997_4010_partial.edi")
    )
    acks = [ack for interchange in x12.read_interchanges(text, strict=False) for ack in x12.acknowledge(interchange)]
    assert [(a.functional_id, a.group_control_number, a.status) for a in acks] == [("SW", 417, "A"), ("IB", 418, "A")]
    assert acks[1].group_version == "005010"


# --- the property: whatever the writer writes, the reader reads back -------------------------------------------

ALPHABET = st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="*~>|^:'{}!\\`")


def text(min_size: int = 1, max_size: int = 20) -> st.SearchStrategy[str]:
    return (
        st.text(ALPHABET, min_size=min_size, max_size=max_size)
        .map(str.strip)
        .filter(lambda value: len(value) >= min_size)
    )


identifiers = st.from_regex(r"[A-Z0-9][A-Z0-9-]{0,11}", fullmatch=True)
quantities = st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False)
dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 12, 31))
times = st.times().map(lambda t: t.replace(microsecond=0))
optional = lambda strategy: st.one_of(st.just(""), strategy)  # noqa: E731


@st.composite
def parties(draw) -> Party:
    phone, email = draw(optional(st.from_regex(r"[0-9]{10}", fullmatch=True))), draw(optional(text(3, 30)))
    return Party(
        role=draw(st.sampled_from(["ST", "WH", "DE", "SF"])),
        name=draw(text(1, 60)),
        name_lines=tuple(draw(st.lists(text(1, 60), max_size=2))),
        address_lines=tuple(draw(st.lists(text(1, 55), max_size=2))),
        city=draw(optional(text(2, 30))),
        state=draw(optional(st.from_regex(r"[A-Z]{2}", fullmatch=True))),
        postal_code=draw(optional(st.from_regex(r"[0-9]{5}", fullmatch=True))),
        country=draw(optional(st.sampled_from(["US", "CA", "DE"]))),
        contact_name=draw(text(1, 30)) if phone or email else draw(optional(text(1, 30))),
        phone=phone,
        email=email,
    )


upcs = optional(st.from_regex(r"[0-9]{12}", fullmatch=True))
order_lines = st.builds(
    OrderLine,
    sku=identifiers,
    quantity=quantities,
    unit=st.sampled_from(["EA", "CA"]),
    upc=upcs,
    description=optional(text(1, 45)),
    line_reference=optional(identifiers),
)
shipping_orders = st.builds(
    ShippingOrder,
    shipment_id=identifiers,
    order_number=identifiers,
    lines=st.lists(order_lines, min_size=1, max_size=4).map(tuple),
    parties=st.lists(parties(), max_size=2).map(tuple),
    requested_ship_date=st.none() | dates,
    requested_delivery_date=st.none() | dates,
    carrier=optional(st.from_regex(r"[A-Z]{2,4}", fullmatch=True)),
    service_level=optional(text(1, 35)),
    instructions=optional(text(1, 80)),
    weight_lb=st.none() | st.decimals(min_value=0, max_value=99999, places=2),
)
shipped_lines = st.builds(
    ShippedLine,
    sku=identifiers,
    quantity_shipped=quantities,
    quantity_ordered=st.none() | quantities,
    status=st.sampled_from(["CC", "CP"]),
    lot=optional(identifiers),
    description=optional(text(1, 45)),
)
shipping_advices = st.builds(
    ShippingAdvice,
    shipment_id=identifiers,
    ship_date=dates,
    packages=st.lists(
        st.builds(
            ShippedPackage,
            lines=st.lists(shipped_lines, min_size=1, max_size=3).map(tuple),
            package_id=optional(identifiers),
            tracking_number=optional(identifiers),
        ),
        min_size=1,
        max_size=3,
    ).map(tuple),
    warehouse_shipment_id=optional(identifiers),
    order_number=optional(identifiers),
    shipped_time=st.none() | times,
    carrier=optional(st.from_regex(r"[A-Z]{2,4}", fullmatch=True)),
    tracking_number=optional(identifiers),
    parties=st.lists(parties(), max_size=2).map(tuple),
)
inventory_advices = st.builds(
    InventoryAdvice,
    report_id=identifiers,
    as_of_date=dates,
    as_of_time=st.none() | times,
    items=st.lists(
        st.builds(
            InventoryItem,
            sku=identifiers,
            upc=upcs,
            description=optional(text(1, 80)),
            quantities=st.lists(
                st.builds(InventoryQuantity, qualifier=st.sampled_from(["33", "17", "74"]), quantity=quantities),
                max_size=3,
            ).map(tuple),
        ),
        max_size=4,
    ).map(tuple),
)
stock_receipts = st.builds(
    StockReceipt,
    receipt_number=identifiers,
    received_date=dates,
    reference=optional(identifiers),
    lines=st.lists(
        st.builds(ReceivedLine, sku=identifiers, quantity=quantities, upc=upcs, lot=optional(identifiers)),
        min_size=1,
        max_size=4,
    ).map(tuple),
)
element_errors = st.builds(
    x12.ElementError,
    position=st.integers(1, 99),
    code=st.sampled_from(["1", "2", "4", "5", "6", "7", "8"]),
    reference=st.none() | st.integers(1, 9999),
    bad_value=optional(identifiers),
)
segment_errors = st.builds(
    x12.SegmentError,
    segment_id=st.sampled_from(["N1", "W06", "W12", "ZZZ", "LIN"]),
    position=st.integers(2, 999_999),
    code=st.sampled_from(["1", "2", "3", "8"]),
    element_errors=st.lists(element_errors, max_size=3).map(tuple),
)
set_answers = st.one_of(
    st.builds(
        x12.SetAcknowledgement,
        set_id=st.sampled_from(["940", "945"]),
        control_number=st.from_regex(r"[0-9]{4,9}", fullmatch=True),
        status=st.just("A"),
    ),
    st.builds(
        x12.SetAcknowledgement,
        set_id=st.sampled_from(["940", "945"]),
        control_number=st.from_regex(r"[0-9]{4,9}", fullmatch=True),
        status=st.just("R"),
        error_codes=st.lists(st.sampled_from(["1", "2", "3", "4", "5", "23"]), min_size=1, max_size=5).map(tuple),
        segment_errors=st.lists(segment_errors, max_size=3).map(tuple),
    ),
)
acknowledgements = st.builds(
    FunctionalAcknowledgement,
    functional_id=st.sampled_from(["OW", "SW", "IB", "RE"]),
    group_control_number=st.integers(1, 999_999_999),
    status=st.sampled_from(["A", "P", "R"]),
    sets=st.lists(set_answers, max_size=4).map(tuple),
    sets_included=st.integers(0, 999_999),
    sets_received=st.integers(0, 999_999),
    sets_accepted=st.integers(0, 999_999),
    error_codes=st.lists(st.sampled_from(["1", "2", "3", "4", "5"]), max_size=5).map(tuple),
)
separator_sets = st.sampled_from([Separators(), PIPES, Separators("^", ":", "'", "{", suffix="\r\n")])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    documents=st.lists(
        st.one_of(shipping_orders, shipping_advices, inventory_advices, stock_receipts, acknowledgements),
        min_size=1,
        max_size=4,
    ),
    version=st.sampled_from([x12.VERSION_4010, x12.VERSION_5010]),
    separators=separator_sets,
)
def test_whatever_the_writer_writes_the_reader_reads_back(documents, version, separators):
    _, written = write(documents, version=version, separators=separators)
    read = [document for _, _, document in x12.read_documents(written)]
    by_kind = sorted(documents, key=lambda d: [g.FUNCTIONAL_ID for g in documents].index(d.FUNCTIONAL_ID))
    assert read == by_kind
    assert {ack.status for ack in x12.acknowledge(written)} <= {"A"}
