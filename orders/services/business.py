"""A business customer's order process: its rules as routing, carrier choice, the documents and credit read them,
its setup checklist, and its open balance.

The rules are read per batch (``rules_for_customers``: one query, nothing more for a batch of ordinary
customers), so a change to a profile applies to the next order routed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from shipping import rating

from .. import events
from ..business_models import CONTACT_EVENTS, BusinessContact, BusinessProfile, SetupCheck, SetupStep
from ..exceptions import OrderError
from ..models import PRE_SHIPMENT_STATUSES, Order, OrderStatus
from ..payments import accounting
from ..payments.credit import Fired
from ..payments.models import AccountRole, JournalEntry, JournalLine, PaymentTransaction
from ._common import lock_order

ZERO = Decimal("0.00")
# Only orders paid by invoice draw on an account's credit: a card or the channel paid the others at checkout.
ON_ACCOUNT_GATEWAY = "manual"


@dataclass(frozen=True)
class BusinessRules:
    """What routing and carrier choice must obey for one business customer."""

    customer_id: int
    rule: str  # how reasons name it: "business customer Acme Wholesale"
    excluded: dict[int, str]  # warehouse id -> code
    preferred: tuple[int, ...]  # default warehouses, by id
    preferred_codes: tuple[str, ...]
    preferred_vendor_id: int | None
    preferred_service_id: int | None
    contacts: tuple[tuple[str, str], ...] = ()  # (email, role): who gets copies of the order emails
    carrier: rating.Preference | None = None  # the preferred service, else vendor


def rules_for_customers(customer_ids: Iterable[int]) -> dict[int, BusinessRules]:
    """The business rules of those of these customers that have a profile, by customer id.

    One query when none has (the warehouses are loaded only for profiles found).
    """
    profiles = (
        BusinessProfile.objects.filter(customer_id__in=set(customer_ids))
        .select_related("customer", "preferred_vendor", "preferred_service__vendor")
        .prefetch_related("default_warehouses", "excluded_warehouses", "contacts")
    )
    rules = {}
    for profile in profiles:
        defaults = sorted(profile.default_warehouses.all(), key=lambda w: w.code)
        rules[profile.customer_id] = BusinessRules(
            customer_id=profile.customer_id,
            rule=profile.rule_name,
            excluded={w.pk: w.code for w in profile.excluded_warehouses.all()},
            preferred=tuple(w.pk for w in defaults),
            preferred_codes=tuple(w.code for w in defaults),
            preferred_vendor_id=profile.preferred_vendor_id,
            preferred_service_id=profile.preferred_service_id,
            contacts=tuple((contact.email, contact.role) for contact in profile.contacts.all()),
            carrier=_carrier_preference(profile),
        )
    return rules


def rules_for_orders(order_ids: Iterable[int]) -> dict[int, BusinessRules]:
    """The business rules of these orders' customers, by order id: one query when none of them has a profile
    (it reads the orders' customers itself, so orders loaded with only some of their fields cost nothing more)."""
    customer_of = dict(
        Order.objects.filter(pk__in=set(order_ids), customer__business_profile__isnull=False).values_list(
            "pk", "customer_id"
        )
    )
    if not customer_of:
        return {}
    rules = rules_for_customers(set(customer_of.values()))
    return {order_id: rules[customer_id] for order_id, customer_id in customer_of.items() if customer_id in rules}


def _carrier_preference(profile: BusinessProfile) -> rating.Preference | None:
    service, vendor = profile.preferred_service, profile.preferred_vendor
    if service is None and vendor is None:
        return None
    return rating.Preference(
        rule=profile.rule_name,
        label=f"{service.vendor.name} {service.name}" if service else vendor.name,
        service_id=service.pk if service else None,
        vendor_code=vendor.code if vendor else service.vendor.code,
    )


def rules_for_order(order: Order) -> BusinessRules | None:
    return rules_for_customers([order.customer_id]).get(order.customer_id)


def carrier_preference(order: Order) -> rating.Preference | None:
    """The order's business customer's preferred carrier, or None (one query)."""
    rules = rules_for_order(order)
    return rules.carrier if rules else None


# --- the order's customer reference -------------------------------------------------------------------------


@transaction.atomic(durable=True)
def set_po_number(*, order_id: int, po_number: str, actor) -> Order:
    """Set (or clear) the customer's reference (PO number) of an order that has not shipped; on the timeline.

    Shipments made from now on print it (their labels too); a shipment already made keeps the reference it was
    made with.
    """
    po_number = (po_number or "").strip()
    if len(po_number) > 50:
        raise OrderError(f"po_number: at most 50 characters ({len(po_number)} given).")
    order = lock_order(order_id)
    if order.status not in PRE_SHIPMENT_STATUSES:
        raise OrderError(f"Order {order} is {order.get_status_display().lower()}: its PO number is kept as it shipped.")
    before = order.po_number
    if before == po_number:
        return order
    order.po_number = po_number
    order.save(update_fields=["po_number", "updated_at"])
    events.po_number_set(order, before=before, actor=actor)
    return order


# --- credit -------------------------------------------------------------------------------------------------


def open_balance(customer_id: int, currency: str) -> Decimal:
    """What the customer owes on invoice in ``currency``: its invoice orders not cancelled, less what was received
    (payments marked) and what refunds took off an unpaid invoice. A refund paid back in cash after the invoice
    was paid takes nothing off: it returned the payment, not a debt."""
    orders = Order.objects.filter(
        customer_id=customer_id, currency=currency.upper(), payment_gateway=ON_ACCOUNT_GATEWAY
    ).exclude(status=OrderStatus.CANCELLED)
    ordered = orders.aggregate(total=Sum("grand_total"))["total"] or ZERO
    T = PaymentTransaction
    paid = (
        T.objects.filter(order__in=orders, kind=T.Kind.SETTLE, status=T.Status.SUCCEEDED).aggregate(
            total=Sum("amount")
        )["total"]
        or ZERO
    )
    credited = (
        JournalLine.objects.filter(
            entry__order__in=orders,
            entry__kind=JournalEntry.Kind.REFUND,
            account=accounting.account_for(AccountRole.RECEIVABLES),
        ).aggregate(total=Sum("credit"))["total"]
        or ZERO
    )
    return ordered - paid - credited


@dataclass(frozen=True)
class LimitRule:
    """The account's credit limit, as the credit check names a rule that fired."""

    name: str
    kind: str = "credit_limit"


def credit_limit_fired(order: Order) -> list[Fired]:
    """The account's credit limit as a credit rule that fires: for an invoice order (gateway ``manual``) that
    takes the customer's open balance, itself included, over the limit of its profile. ``order.customer`` with
    its ``business_profile`` loaded (``select_related``); no query for anyone else."""
    if order.payment_gateway != ON_ACCOUNT_GATEWAY:
        return []
    profile = getattr(order.customer, "business_profile", None)
    if profile is None or profile.credit_limit is None or profile.credit_currency.upper() != order.currency.upper():
        return []
    balance = open_balance(order.customer_id, order.currency)
    if balance <= profile.credit_limit:
        return []
    currency = order.currency.upper()
    rule = LimitRule(name=f"credit limit of {profile.rule_name}")
    detail = (
        f"open balance {balance:,.2f} {currency} with this order ({order.grand_total:,.2f}) is over the "
        f"credit limit {profile.credit_limit:,.2f} {currency} ({profile.payment_terms})"
    )
    return [Fired(rule=rule, detail=detail)]


# --- the setup checklist ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChecklistRow:
    step: str
    label: str
    done: bool
    changed_at: object
    changed_by: str
    filled: str  # what the setup holds for this step now, in a few words


def checklist(profile: BusinessProfile) -> list[ChecklistRow]:
    """Every step of the setup in order: done or not, by whom and when, and what the profile holds for it."""
    checks = {check.step: check for check in profile.checks.all()}
    rows = []
    for step, label in SetupStep.choices:
        check = checks.get(step)
        rows.append(
            ChecklistRow(
                step=step,
                label=label,
                done=bool(check and check.done),
                changed_at=check.changed_at if check else None,
                changed_by=check.changed_by_name if check else "",
                filled=_filled(profile, step),
            )
        )
    return rows


def _filled(profile: BusinessProfile, step: str) -> str:
    if step == SetupStep.PROFILE:
        account = f", account {profile.account_number}" if profile.account_number else ""
        return f"{profile.get_kind_display()}{account}"
    if step == SetupStep.WAREHOUSES:
        default = ", ".join(w.code for w in profile.default_warehouses.all()) or "none"
        excluded = ", ".join(w.code for w in profile.excluded_warehouses.all()) or "none"
        return f"default: {default}; excluded: {excluded}"
    if step == SetupStep.CARRIER:
        if profile.preferred_service_id:
            return str(profile.preferred_service)
        return str(profile.preferred_vendor) if profile.preferred_vendor_id else "no preference (cheapest on time)"
    if step == SetupStep.PACKING:
        return profile.packing_instructions[:80] or "none"
    if step == SetupStep.DOCUMENTS:
        parts = ["PO number shown" if profile.slip_shows_po_number else "no PO number"]
        if profile.slip_brand_name or profile.slip_logo:
            parts.append(f"branded {profile.slip_brand_name or 'with logo'}")
        return "; ".join(parts)
    if step == SetupStep.CONTACTS:
        count = len(profile.contacts.all())
        return f"{count} contact{'s' if count != 1 else ''}"
    if profile.credit_limit is None:
        return f"no limit, {profile.payment_terms}"
    return f"limit {profile.credit_limit:,.2f} {profile.credit_currency}, {profile.payment_terms}"


@transaction.atomic(durable=True)
def mark_setup_step(*, profile_id: int, step: str, done: bool, actor) -> SetupCheck:
    """Record that a step of a business customer's setup is done (or not any more), by whom and when.

    Refused for a step that is not on the checklist; its history keeps every change.
    """
    if step not in SetupStep.values:
        raise OrderError(f"step: {step!r} is not a setup step; one of {', '.join(SetupStep.values)}.")
    profile = BusinessProfile.objects.select_for_update().filter(pk=profile_id).first()
    if profile is None:
        raise OrderError(f"No business customer setup with id {profile_id}.")
    name = _actor_name(actor)
    check, _ = SetupCheck.objects.update_or_create(
        profile=profile,
        step=step,
        defaults={
            "done": done,
            "changed_at": timezone.now(),
            "changed_by": actor if getattr(actor, "pk", None) else None,
            "changed_by_name": name,
        },
    )
    return check


def _actor_name(actor) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    return actor.get_full_name() or actor.get_username()


def contacts_for_orders(order_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
    """The notification contacts of these orders' customers, as (email, role) by order id (one query)."""
    contacts = "customer__business_profile__contacts__"
    rows = (
        Order.objects.filter(pk__in=set(order_ids), **{f"{contacts}isnull": False})
        .order_by("pk", f"{contacts}email")
        .values_list("pk", f"{contacts}email", f"{contacts}role")
    )
    found: dict[int, list[tuple[str, str]]] = {}
    for order_id, email, role in rows:
        found.setdefault(order_id, []).append((email, role))
    return found


def confirmation_contacts(customer_id: int) -> list[tuple[str, str]]:
    """The customer's notification contacts whose role covers the order confirmation, as (email, role) (one query)."""
    return [
        (email, role)
        for email, role in BusinessContact.objects.filter(profile__customer_id=customer_id)
        .order_by("email")
        .values_list("email", "role")
        if "order_received" in CONTACT_EVENTS[role]
    ]
