"""Credit control: which active rules an order trips. Reads only; the service puts the order on hold."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone

from ..models import Order
from .models import BlockedValue, CreditRule, PaymentTransaction


@dataclass(frozen=True)
class Fired:
    rule: CreditRule
    detail: str

    def as_data(self) -> dict:
        return {"rule": self.rule.name, "kind": self.rule.kind, "detail": self.detail}


def _money(amount, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def _currency_applies(rule: CreditRule, order: Order) -> bool:
    return not rule.currency or rule.currency.upper() == order.currency.upper()


def _amount_over(rule: CreditRule, order: Order) -> str:
    if _currency_applies(rule, order) and order.grand_total > rule.threshold:
        return (
            f"order total {_money(order.grand_total, order.currency)} is over {_money(rule.threshold, order.currency)}"
        )
    return ""


def _country_mismatch(rule: CreditRule, order: Order) -> str:
    shipping = order.shipping_address
    billing = order.billing_address or shipping
    if billing.country.upper() != shipping.country.upper():
        return f"billing country {billing.country} differs from shipping country {shipping.country}"
    return ""


def _first_order_over(rule: CreditRule, order: Order) -> str:
    if not _currency_applies(rule, order) or order.grand_total <= rule.threshold:
        return ""
    if Order.objects.filter(customer_id=order.customer_id).exclude(pk=order.pk).exists():
        return ""
    return (
        f"first order of a new customer, total {_money(order.grand_total, order.currency)} "
        f"is over {_money(rule.threshold, order.currency)}"
    )


def _repeated_declines(rule: CreditRule, order: Order) -> str:
    since = timezone.now() - dt.timedelta(days=rule.window_days)
    declines = PaymentTransaction.objects.filter(
        order__customer_id=order.customer_id,
        kind=PaymentTransaction.Kind.AUTHORISE,
        status=PaymentTransaction.Status.DECLINED,
        created_at__gte=since,
    ).count()
    if declines >= rule.declines:
        return f"{declines} declined authorisations for this customer in the last {rule.window_days} days"
    return ""


def _blocked(rule: CreditRule, order: Order) -> str:
    shipping = order.shipping_address
    billing = order.billing_address or shipping
    email = BlockedValue.normalise(order.customer.email)
    codes = {BlockedValue.normalise(shipping.postal_code), BlockedValue.normalise(billing.postal_code)}
    hit = (
        BlockedValue.objects.filter(kind=BlockedValue.Kind.EMAIL, value=email).first()
        or BlockedValue.objects.filter(kind=BlockedValue.Kind.POSTAL_CODE, value__in=codes).order_by("value").first()
    )
    if hit is None:
        return ""
    return f"{hit.get_kind_display().lower()} {hit.value} is blocked" + (f" ({hit.reason})" if hit.reason else "")


CHECKS: dict[str, Callable[[CreditRule, Order], str]] = {
    CreditRule.Kind.AMOUNT_OVER: _amount_over,
    CreditRule.Kind.COUNTRY_MISMATCH: _country_mismatch,
    CreditRule.Kind.FIRST_ORDER_OVER: _first_order_over,
    CreditRule.Kind.REPEATED_DECLINES: _repeated_declines,
    CreditRule.Kind.BLOCKED: _blocked,
}


def active_rules():
    """The rules in force, by name (one query; nothing is cached across requests)."""
    return CreditRule.objects.filter(is_active=True).order_by("name")


def evaluate(order: Order, *, rules: list[CreditRule] | None = None) -> list[Fired]:
    """The active rules (or ``rules``, read already) this order trips, by rule name; empty when it may go ahead."""
    fired = []
    for rule in active_rules() if rules is None else rules:
        detail = CHECKS[rule.kind](rule, order)
        if detail:
            fired.append(Fired(rule=rule, detail=detail))
    return fired
