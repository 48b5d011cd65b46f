"""The customer record's writes: staff notes and tags, merging duplicates, exporting and erasing personal data.

A merge moves every order (with its returns, refunds, messages and shipments, which hang off the order), every
address-book entry, store credit, note and timeline entry of the duplicate to the kept customer, then deletes
the duplicate. An erasure rewrites the customer's names, emails, phones and street addresses wherever the
database holds them for that customer (the orders' addresses and timelines, the outbox, returns, refunds,
shipments, stored intake payloads, notes, the console's change log) and keeps amounts, SKUs, quantities and
the journal. It is recorded once and cannot be undone: the old values are kept nowhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from inventory.models import ImportJob
from notifications.models import Message
from shipping.models import Shipment, ShipmentStatus

from .. import customer_events as events
from ..business_models import BusinessContact
from ..customer_models import CustomerErasure, CustomerNote, CustomerTag
from ..exceptions import CustomerRecordError
from ..models import OPEN_STATUSES, Address, Customer, Order, OrderEvent, OrderLine, OrderStatusLink
from ..payments.models import JournalEntry
from ..returns.models import OPEN_RETURN_STATUSES, ReturnRequest

ERASED = "[erased]"
ERASED_NAME = "Erased customer"
MIN_TERM_LENGTH = 3  # shorter fragments (a state code, an initial) are not searched for


def erased_email(customer_id: int | str) -> str:
    """The address an erased customer's email becomes: unique, and undeliverable by design (.invalid)."""
    return f"erased-{customer_id}@erased.invalid"


# --- notes and tags --------------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def add_customer_note(*, customer_id: int, body: str, actor) -> CustomerNote:
    """Add a staff note to the customer's page."""
    body = body.strip()
    if not body:
        raise CustomerRecordError("body: write the note first; an empty note is not added.")
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise CustomerRecordError(f"customer: no customer with id {customer_id}.")
    user = actor if getattr(actor, "is_authenticated", False) else None
    return CustomerNote.objects.create(customer=customer, body=body, author=user, author_name=events.actor_name(actor))


def parse_tags(text: str) -> list[str]:
    """Tag names from "vip, wholesale": trimmed, lower-cased, each once, in order."""
    names: list[str] = []
    for part in re.split(r"[,\n]", text):
        name = " ".join(part.split()).lower()
        if name and name not in names:
            names.append(name)
    return names


@transaction.atomic(durable=True)
def set_customer_tags(*, customer_id: int, names: list[str], actor) -> tuple[list[str], list[str]]:
    """Make the customer's tags exactly ``names`` (new tags are created); returns (added, removed).

    Writes the change on the customer's timeline when anything changed.
    """
    for name in names:
        if len(name) > CustomerTag._meta.get_field("name").max_length:
            raise CustomerRecordError(f"tags: {name!r} is longer than 40 characters.")
    customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
    if customer is None:
        raise CustomerRecordError(f"customer: no customer with id {customer_id}.")
    current = {tag.name: tag for tag in customer.tags.all()}
    added = [name for name in names if name not in current]
    removed = sorted(name for name in current if name not in names)
    for name in added:
        tag, _ = CustomerTag.objects.get_or_create(name=name)
        tag.customers.add(customer)
    for name in removed:
        current[name].customers.remove(customer)
    if added or removed:
        events.tags_changed(customer, added=added, removed=removed, actor=actor)
    return added, removed


# --- merge -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeResult:
    keep: Customer
    orders: list[str]
    returns: int
    messages: int
    addresses: int
    notes: int


@transaction.atomic(durable=True)
def merge_customers(*, keep_id: int, duplicate_id: int, actor) -> MergeResult:
    """Move everything of the duplicate customer to the kept one, then delete the duplicate.

    Locks both customers (in primary-key order), then the duplicate's orders (in primary-key order). Every
    order, address-book entry, store credit, note and timeline entry moves; returns, refunds and messages
    move with their orders. Each moved order's timeline and the kept customer's timeline say so.
    """
    if keep_id == duplicate_id:
        raise CustomerRecordError("duplicate: a customer cannot be merged into itself.")
    locked = {
        c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=[keep_id, duplicate_id]).order_by("pk")
    }
    for role, pk in (("keep", keep_id), ("duplicate", duplicate_id)):
        if pk not in locked:
            raise CustomerRecordError(f"{role}: no customer with id {pk} (merged or deleted meanwhile?).")
    keep, duplicate = locked[keep_id], locked[duplicate_id]
    erased = set(
        CustomerErasure.objects.filter(customer_id__in=[keep_id, duplicate_id]).values_list("customer_id", flat=True)
    )
    if erased:
        raise CustomerRecordError(
            f"customer #{min(erased)}: its personal data was erased; an erased customer is never merged."
        )
    orders = list(Order.objects.select_for_update().filter(customer=duplicate).order_by("pk"))
    order_ids = [order.pk for order in orders]
    moved_returns = ReturnRequest.objects.filter(order_id__in=order_ids).count()
    moved_messages = Message.objects.filter(order_id__in=order_ids).count()
    Order.objects.filter(pk__in=order_ids).update(customer=keep)
    addresses = Address.objects.filter(customer=duplicate).update(customer=keep)
    notes = CustomerNote.objects.filter(customer=duplicate).update(customer=keep)
    _move_other_relations(keep=keep, duplicate=duplicate)
    OrderEvent.objects.bulk_create(
        [events.order_moved_to_customer(order, keep=keep, duplicate=duplicate, actor=actor) for order in orders]
    )
    moved = {
        "orders": [order.number or str(order.pk) for order in orders],
        "returns": moved_returns,
        "messages": moved_messages,
        "addresses": addresses,
        "notes": notes,
    }
    events.customer_merged(keep, duplicate=duplicate, moved=moved, actor=actor)
    try:
        duplicate.delete()
    except ProtectedError as error:  # a row that could not be moved still points at the duplicate
        names = sorted({row._meta.verbose_name_plural for row in error.protected_objects})
        raise CustomerRecordError(
            f"duplicate #{duplicate.pk}: still referred to by {', '.join(map(str, names))}; nothing was merged."
        ) from error
    return MergeResult(
        keep=keep,
        orders=moved["orders"],
        returns=moved_returns,
        messages=moved_messages,
        addresses=addresses,
        notes=notes,
    )


def _move_other_relations(*, keep: Customer, duplicate: Customer) -> None:
    """Point every other row that refers to the duplicate at the kept customer (store credits, timeline
    entries, tags, and whatever relation a later feature adds), so deleting the duplicate deletes nothing else.

    A one-to-one relation the kept customer already has (an erasure record, a profile) cannot take a second
    row: the merge is refused rather than one of them dropped."""
    for relation in Customer._meta.related_objects:
        if relation.related_model in (Order, Address, CustomerNote):  # moved above, with their counts
            continue
        accessor = relation.get_accessor_name()
        if relation.many_to_many:
            if relation.through._meta.auto_created:
                getattr(keep, accessor).add(*getattr(duplicate, accessor).all())
                continue
            manager = relation.through.objects
            field = next(f for f in relation.through._meta.concrete_fields if f.related_model is Customer)
            manager.filter(**{field.name: duplicate}).update(**{field.name: keep})
            continue
        rows = relation.related_model._base_manager.filter(**{relation.field.name: duplicate})
        if (
            relation.one_to_one
            and rows.exists()
            and relation.related_model._base_manager.filter(**{relation.field.name: keep}).exists()
        ):
            raise CustomerRecordError(
                f"duplicate #{duplicate.pk}: both customers have a {relation.related_model._meta.verbose_name}; "
                "keep one of them first."
            )
        rows.update(**{relation.field.name: keep})


# --- export ----------------------------------------------------------------------------------------------


def _address_data(address: Address | None) -> dict | None:
    if address is None:
        return None
    return {
        field: getattr(address, field)
        for field in ("name", "company", "line1", "line2", "city", "state", "postal_code", "country", "phone")
    }


@transaction.atomic(durable=True)
def export_customer_data(*, customer_id: int, actor) -> dict:
    """The customer's personal data as one JSON-ready document; the export is written on their timeline."""
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None:
        raise CustomerRecordError(f"customer: no customer with id {customer_id}.")
    orders = (
        customer.orders.select_related("shipping_address", "billing_address", "channel")
        .prefetch_related("lines")
        .order_by("placed_at", "pk")
    )
    order_ids = [order.pk for order in orders]
    document = {
        "customer": {
            "id": customer.pk,
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
            "accepts_marketing": customer.accepts_marketing,
            "created_at": customer.created_at,
        },
        "address_book": [_address_data(a) for a in customer.addresses.order_by("pk")],
        "orders": [
            {
                "number": order.number,
                "channel": order.channel.name,
                "channel_order_id": order.external_id,
                "status": order.status,
                "placed_at": order.placed_at,
                "currency": order.currency,
                "grand_total": order.grand_total,
                "shipping_address": _address_data(order.shipping_address),
                "billing_address": _address_data(order.billing_address),
                "lines": [
                    {"sku": line.sku, "name": line.name, "quantity": line.quantity, "unit_price": line.unit_price}
                    for line in order.lines.all()
                ],
            }
            for order in orders
        ],
        "returns": [
            {
                "number": rma.number,
                "order": rma.order.number,
                "status": rma.status,
                "reason": rma.reason,
                "customer_note": rma.customer_note,
                "created_at": rma.created_at,
            }
            for rma in ReturnRequest.objects.filter(order_id__in=order_ids).select_related("order").order_by("pk")
        ],
        "messages": [
            {
                "event": m.event,
                "order": m.order.number if m.order else None,
                "recipient": m.recipient,
                "subject": m.subject,
                "status": m.status,
                "queued_at": m.created_at,
                "sent_at": m.sent_at,
            }
            for m in Message.objects.filter(order_id__in=order_ids, audience=Message.Audience.CUSTOMER)
            .select_related("order")
            .order_by("pk")
        ],
        "notes": [
            {"body": note.body, "by": note.author_name, "at": note.created_at} for note in customer.notes.order_by("pk")
        ],
        "tags": [tag.name for tag in customer.tags.all()],
        "exported_at": timezone.now(),
    }
    events.personal_data_exported(customer, actor=actor)
    return document


# --- erasure ---------------------------------------------------------------------------------------------

TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField)


def _replacer(found: dict) -> Callable[[str], str]:
    """A function that replaces each term (case-insensitively, as a whole word) with its replacement, and each
    of the phones however it is written."""
    terms: dict[str, str] = found["terms"]
    ordered = sorted(terms, key=len, reverse=True)  # the email before the name it may contain
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(t) for t in ordered) + r")(?!\w)", re.IGNORECASE)
    lowered = {term.lower(): replacement for term, replacement in terms.items()}
    phone_patterns = [
        re.compile(r"(?<!\d)(?:\+?1[\s.\-]*)?" + r"[\s().\-]*".join(digits) + r"(?!\d)") for digits in found["phones"]
    ]

    def replace(text: str) -> str:
        text = pattern.sub(lambda match: lowered[match.group(0).lower()], text) if terms else text
        for phone in phone_patterns:
            text = phone.sub(ERASED, text)
        return text

    return replace


# Keys of stored payloads (a channel's raw order, a 3PL message, an event's data) whose whole value is about the
# person, whatever it holds: an address or contact block, the buyer's IP and browser, a note. Searching for the
# customer's known values alone would miss what the channel sent and the OMS never stored elsewhere (a default
# address of the buyer's Shopify account, a phone written another way).
PERSONAL_KEYS = frozenset(
    {
        "billing_address",
        "shipping_address",
        "default_address",
        "addresses",
        "customer",
        "ship_to",
        "bill_to",
        "client_details",
        "browser_ip",
        "note",
        "note_attributes",
        "email",
        "contact_email",
        "phone",
        "first_name",
        "last_name",
        "address1",
        "address2",
        "line1",
        "line2",
        "company",
    }
)


def _redacted(value):
    """A personal key's value with every text in it erased (its shape kept: a dict stays a dict)."""
    if isinstance(value, str):
        return ERASED if value else value
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value


def _replace_in(value, replace: Callable[[str], str]):
    if isinstance(value, str):
        return replace(value)
    if isinstance(value, dict):
        return {
            key: _redacted(item) if key in PERSONAL_KEYS else _replace_in(item, replace) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_replace_in(item, replace) for item in value]
    return value


def _scrub(queryset: models.QuerySet, replace: Callable[[str], str], counts: dict[str, int]) -> None:
    """Rewrite every text and JSON column of the rows, and of their history rows, with the terms replaced.

    Rows are rewritten with ``update`` (no save signals: no new history row keeps the old values)."""
    model = queryset.model
    querysets = [queryset]
    if hasattr(model, "history"):  # django-simple-history: the same rows' earlier versions
        querysets.append(model.history.model.objects.filter(**{model._meta.pk.attname + "__in": queryset.values("pk")}))
    for rows in querysets:
        fields = [
            f
            for f in rows.model._meta.concrete_fields
            if isinstance(f, TEXT_FIELDS) and not f.primary_key and not f.choices
        ]
        pk_name = rows.model._meta.pk.attname
        for row in rows.select_for_update().order_by(pk_name):
            changes = {}
            for f in fields:
                value = getattr(row, f.attname)
                new = _replace_in(value, replace)
                if new != value:
                    changes[f.attname] = new
            if changes:
                rows.model.objects.filter(pk=getattr(row, pk_name)).update(**changes)
                label = rows.model._meta.label
                counts[label] = counts.get(label, 0) + 1


# Never rewritten: the accounts' record (its memos name orders, never people) and what was sold (a product
# may share a word with a customer's name: "Rose candle").
NEVER_REWRITTEN = (JournalEntry, OrderLine, CustomerErasure)


def _rows_below(model: type[models.Model], queryset: models.QuerySet, *, depth: int = 3) -> list[models.QuerySet]:
    """The rows of every model that refers to the queryset's rows by a foreign key, and the rows that refer
    to those, ``depth`` levels down (an order's shipments, their 3PL releases, the releases' messages):
    whatever a feature keeps about an order or a customer is searched, including models added later."""
    found: list[models.QuerySet] = []
    seen: set[type[models.Model]] = {model}
    frontier = [(model, queryset)]
    for _ in range(depth):
        below = []
        for parent, rows in frontier:
            for relation in parent._meta.related_objects:
                child = relation.related_model
                if relation.many_to_many or child in seen or child in NEVER_REWRITTEN:
                    continue
                seen.add(child)
                child_rows = child._base_manager.filter(**{f"{relation.field.name}__in": rows.values("pk")})
                found.append(child_rows)
                below.append((child, child_rows))
        frontier = below
    return found


def _terms(
    customer: Customer,
    addresses: list[Address],
    *,
    contacts: Iterable[tuple[str, str]] = (),
    contact_emails: dict[str, str] | None = None,
) -> dict:
    """What to search for, and what each becomes: ``terms`` (the email becomes its erased form, a business
    contact's its own in ``contact_emails``, everything else "[erased]") and ``phones`` (the digits of each
    phone, found however they are written). ``contacts``: a business customer's notification contacts as
    (name, email)."""
    terms: dict[str, str] = {}
    for name, _ in contacts:
        for value in (name, *name.split()):
            terms[value] = ERASED
    terms.update(contact_emails or {})
    for value in (customer.name, customer.phone, *customer.name.split()):
        terms[value] = ERASED
    for address in addresses:
        for value in (
            address.name,
            address.company,
            address.line1,
            address.line2,
            address.phone,
            *address.name.split(),
        ):
            terms[value] = ERASED
    terms[customer.email] = erased_email(customer.pk)
    terms = {term.strip(): replacement for term, replacement in terms.items() if len(term.strip()) >= MIN_TERM_LENGTH}
    # A phone written another way ("(212) 555-0100", "212.555.0100", "2125550100"): its last ten digits with
    # anything but digits between them.
    phones = {
        re.sub(r"\D", "", phone)[-10:]
        for phone in (customer.phone, *(a.phone for a in addresses))
        if len(re.sub(r"\D", "", phone)) >= 7
    }
    return {"terms": terms, "phones": phones}


def _refuse_while_open(customer: Customer, orders: list[Order]) -> None:
    """An order still to ship, or a return still being worked, needs the address: erase once they are done."""
    open_orders = [order.number or str(order.pk) for order in orders if order.status in OPEN_STATUSES]
    open_returns = list(
        ReturnRequest.objects.filter(order__in=orders, status__in=OPEN_RETURN_STATUSES)
        .order_by("pk")
        .values_list("number", flat=True)
    )
    if open_orders or open_returns:
        waiting = [*(f"order {n}" for n in open_orders), *(f"return {n}" for n in open_returns)]
        raise CustomerRecordError(
            f"customer #{customer.pk}: {', '.join(waiting)} still open (to ship, or a return being worked); they need "
            "the address. Finish or cancel them first, then erase."
        )


def _drop_finished_labels(order_ids: list[int]) -> None:
    """Forget the label PDFs that print the customer's address once nobody needs them: shipments delivered or
    cancelled, returns closed or rejected. The files go after commit; labels of parcels on their way stay."""
    finished = (
        Shipment.objects.filter(
            order_id__in=order_ids, status__in=[ShipmentStatus.DELIVERED, ShipmentStatus.CANCELLED]
        ),
        ReturnRequest.objects.filter(
            order_id__in=order_ids, status__in=[ReturnRequest.Status.CLOSED, ReturnRequest.Status.REJECTED]
        ),
    )
    names: list[tuple] = []
    for queryset in finished:
        rows = queryset.exclude(label_file="")
        storage = queryset.model._meta.get_field("label_file").storage
        names += [(storage, name) for name in rows.values_list("label_file", flat=True)]
        rows.update(label_file="")
    if names:
        transaction.on_commit(lambda: [storage.delete(name) for storage, name in names])


@transaction.atomic(durable=True)
def erase_customer(*, customer_id: int, actor, reference: str = "") -> CustomerErasure:
    """Erase the customer's personal data on request; record who and when. Refused for a second time.

    Replaces the name, email, phone and street address on the customer, its address book and its orders'
    addresses, and wherever else the database holds them for this customer: the orders' timelines, the
    outbox (recipients, subjects, the snapshot each message renders), returns, refunds, order errors,
    payments' notes, shipments' addresses, tracking, stock movements, delay notices, stored intake payloads,
    staff notes, the customer's timeline, order import files that name the customer and the console's change
    log. Revokes the orders' status page links and deletes the label files of delivered or cancelled
    shipments and of closed or rejected returns (after commit). Amounts, SKUs, quantities and the journal are untouched.
    """
    customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
    if customer is None:
        raise CustomerRecordError(f"customer: no customer with id {customer_id}.")
    done = CustomerErasure.objects.filter(customer=customer).first()
    if done is not None:
        raise CustomerRecordError(
            f"customer #{customer.pk}: personal data was already erased on {done.erased_at:%Y-%m-%d} by "
            f"{done.erased_by_name}; an erasure is final."
        )
    orders = list(Order.objects.select_for_update().filter(customer=customer).order_by("pk"))
    order_ids = [order.pk for order in orders]
    _refuse_while_open(customer, orders)
    address_ids = {a for order in orders for a in (order.shipping_address_id, order.billing_address_id) if a}
    addresses = list(Address.objects.filter(models.Q(pk__in=address_ids) | models.Q(customer=customer)).order_by("pk"))
    email = customer.email
    # a business customer's notification contacts, current and removed: their copies of the order emails too
    contacts = set(BusinessContact.history.filter(profile__customer=customer).values_list("name", "email"))
    contacts |= set(BusinessContact.objects.filter(profile__customer=customer).values_list("name", "email"))
    # each its own erased address: a copy's outbox key names its recipient, unique beside the customer's own
    contact_emails = {
        contact_email: erased_email(f"{customer.pk}-contact-{n}")
        for n, contact_email in enumerate(sorted({contact_email for _, contact_email in contacts}), start=1)
    }
    replace = _replacer(_terms(customer, addresses, contacts=contacts, contact_emails=contact_emails))
    counts: dict[str, int] = {}

    # The structured fields first: each becomes a placeholder, whatever it held.
    Customer.objects.filter(pk=customer.pk).update(
        name=ERASED_NAME, email=erased_email(customer.pk), phone="", accepts_marketing=False
    )
    counts["orders.Customer"] = 1
    Address.objects.filter(pk__in=[a.pk for a in addresses]).update(
        name=ERASED, company="", line1=ERASED, line2="", phone=""
    )
    counts["orders.Address"] = len(addresses)
    message_ids = list(
        Message.objects.filter(models.Q(order_id__in=order_ids) | models.Q(recipient__iexact=email)).values_list(
            "pk", flat=True
        )
    )
    customer_messages = Message.objects.filter(pk__in=message_ids)
    customer_messages.filter(recipient__iexact=email).update(recipient=erased_email(customer.pk))
    for contact_email, erased in contact_emails.items():
        customer_messages.filter(recipient__iexact=contact_email).update(recipient=erased)
    ReturnRequest.objects.filter(order_id__in=order_ids).exclude(customer_note="").update(customer_note=ERASED)
    CustomerNote.objects.filter(customer=customer).update(body=ERASED)
    # a business customer's notification contacts are people too: gone, with their history
    BusinessContact.objects.filter(profile__customer=customer).delete()
    BusinessContact.history.filter(profile__customer=customer).delete()  # the deletion's own records too
    OrderStatusLink.objects.filter(order_id__in=order_ids, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor if getattr(actor, "is_authenticated", False) else None
    )

    # Then every text column of the rows that belong to the customer's orders, and the few that name them.
    for queryset in (
        Order.objects.filter(pk__in=order_ids),
        # timelines, intake payloads, returns, refunds, payments, shipments with their tracking and 3PL messages…
        *_rows_below(Order, Order.objects.filter(pk__in=order_ids)),
        *_rows_below(Customer, Customer.objects.filter(pk=customer.pk), depth=1),  # store credits, its timeline…
        customer_messages,
        ImportJob.objects.filter(content__icontains=email),
        LogEntry.objects.filter(
            models.Q(object_repr__icontains=email)
            | models.Q(change_message__icontains=email)
            | models.Q(content_type=ContentType.objects.get_for_model(Customer), object_id=str(customer.pk))
            | models.Q(
                content_type=ContentType.objects.get_for_model(Address),
                object_id__in=[str(a.pk) for a in addresses],
            )
        ),
    ):
        _scrub(queryset, replace, counts)

    _drop_finished_labels(order_ids)
    OrderEvent.objects.bulk_create([events.order_data_erased(order, actor=actor) for order in orders])
    erasure = CustomerErasure.objects.create(
        customer=customer,
        erased_by=actor if getattr(actor, "is_authenticated", False) else None,
        erased_by_name=events.actor_name(actor),
        request_reference=reference.strip()[:100],
        rows_changed=counts,
    )
    customer.refresh_from_db()
    events.personal_data_erased(customer, rows=sum(counts.values()), reference=erasure.request_reference, actor=actor)
    return erasure
