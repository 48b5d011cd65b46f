"""Return receipts as the 3PL writes them: the returns*.csv file, the X12 944 naming the RMA, and the demo's 3PL."""

import datetime as dt
from decimal import Decimal

import pytest

from oms_core import x12
from orders.partners.models import MessageKind, MessageStatus, PartnerMessage
from orders.partners.simulator import Simulator, returns_arriving
from orders.partners.transports.csv_sftp import parse_inbound_csv, write_inbound_csv
from orders.returns import services as returns
from orders.returns.models import ReturnRequest, ReturnStatus
from tests.returns.conftest import ship

from .conftest import SECRET, Oms

PARTNER = x12.TradingPartner(our_id="ACME3PL", their_id="NORTHWINDOMS")


def test_a_returns_file_reads_as_one_return_receipt_per_receipt_each_bad_field_named_by_row_and_column():
    text = (
        "message_id,rma,receipt,sku,quantity,disposition,reason\n"
        "ret-1,RMA-0000001,R-1,ACME-A,1,restock,\n"
        "ret-1,RMA-0000001,R-1,ACME-A,1,damaged,torn seam\n"
        "ret-2,RMA-0000002,R-2,ACME-B,two,lost,\n"
    )

    good, bad = parse_inbound_csv("returns-0001.csv", text.encode())

    assert good.kind == bad.kind == MessageKind.RETURN_RECEIPT
    assert good.key == "ret-1" and not good.error
    assert good.payload == {
        "rma": "RMA-0000001",
        "receipt": "R-1",
        "lines": [
            {"sku": "ACME-A", "quantity": 1, "disposition": "restock"},
            {"sku": "ACME-A", "quantity": 1, "disposition": "damaged", "reason": "torn seam"},
        ],
    }
    assert "returns-0001.csv row 4, quantity: 'two' is not a whole number of 1 or more" in bad.error
    assert "returns-0001.csv row 4, disposition: 'lost' must be restock or damaged" in bad.error


def test_a_returns_file_without_grading_columns_reads_and_the_simulator_writes_what_the_oms_reads():
    (record,) = parse_inbound_csv("returns-2.csv", b"rma,receipt,sku,quantity\nRMA-0000003,R-3,ACME-A,2\n")
    assert record.payload == {"rma": "RMA-0000003", "receipt": "R-3", "lines": [{"sku": "ACME-A", "quantity": 2}]}

    payload = {"rma": "RMA-1", "receipt": "R-4", "lines": [{"sku": "X", "quantity": 3, "disposition": "damaged"}]}
    (again,) = parse_inbound_csv("returns-3.csv", write_inbound_csv(MessageKind.RETURN_RECEIPT, [("m-1", payload)]))
    assert again.key == "m-1" and again.payload == payload


def test_a_944_names_the_rma_in_its_header_n9_rz_and_grades_each_line_in_its_n9_zz():
    receipt = x12.StockReceipt(
        receipt_number="RET0000001",
        received_date=dt.date(2026, 12, 6),
        lines=(
            x12.ReceivedLine(sku="ACME-A", quantity=Decimal(1), disposition="RESTOCK"),
            x12.ReceivedLine(sku="ACME-A", quantity=Decimal(1), disposition="DAMAGED", disposition_note="torn seam"),
        ),
        references=(("RZ", "RMA-0000001"),),
    )
    numbers = x12.CounterControlNumbers()

    _, text = x12.write_interchange(
        [receipt], partner=PARTNER, next_control_number=numbers, when=dt.datetime.now(dt.UTC)
    )

    assert "N9*RZ*RMA-0000001~" in text and "N9*ZZ*DAMAGED*torn seam~" in text
    (interchange,) = x12.read_interchanges(text.encode("ascii"))
    assert all(ack.status == "A" for ack in x12.acknowledge(interchange))
    (read,) = [x12.parse_document(ts, group.version) for group in interchange.groups for ts in group.transaction_sets]
    assert read == receipt


@pytest.mark.django_db
def test_the_demo_3pl_receives_the_returns_authorised_to_its_warehouse_once(
    connection, sites, stock, order_to, products, django_capture_on_commit_callbacks
):
    a = products[0]
    stock(sites["EWR"], a, 3)
    order = ship(order_to("NYC", [(a, 2)]))
    rma = returns.open_return(order_id=order.pk, lines={order.lines.get().pk: 2}, reason="other", actor="test")
    returns.authorise_return(rma_id=rma.pk, warehouse_id=sites["DAL"].pk, actor="test")
    rma.refresh_from_db()
    simulator = Simulator(secret=SECRET, deliver=Oms(connection))

    assert returns_arriving(connection, set(), after=3600) == []  # the parcel is still on its way
    ((number, lines),) = returns_arriving(connection, set(), after=0)
    assert number == rma.number
    assert lines == [{"sku": "ACME-A", "quantity": 2, "disposition": "restock"}]
    simulator.receive_return(number, lines)
    with django_capture_on_commit_callbacks(execute=True):
        assert simulator.pump() == [202]

    assert returns_arriving(connection, simulator.returns_received, after=0) == []
    message = PartnerMessage.objects.get(kind=MessageKind.RETURN_RECEIPT)
    assert message.status == MessageStatus.APPLIED, message.last_error
    assert ReturnRequest.objects.get(pk=rma.pk).status == ReturnStatus.INSPECTED
    assert simulator.stock["ACME-A"] == 2
