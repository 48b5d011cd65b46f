"""The returns desk's work on the console's home: open returns by status, refunds to settle or failed, and order
errors open by cause, each a count linking to its list.

``templates/admin/cockpit/returns.html`` draws it; those who see the cockpit get the cockpit instead.
"""

from django.db.models import Count
from django.urls import reverse
from django.utils.http import urlencode


def returns_work(user) -> dict | None:
    """The returns desk's queue: open returns by status, refunds to settle or failed, order errors open by
    cause. Each a count linking to its list; three queries whatever the data."""
    from orders.returns.models import OPEN_RETURN_STATUSES, OrderErrorCase, Refund, ReturnRequest, ReturnStatus

    if not (user.has_perm("returns.process_returnrequest") or user.has_perm("returns.settle_refund")):
        return None
    groups = []
    if user.has_perm("returns.view_returnrequest"):
        found = dict(
            ReturnRequest.objects.filter(status__in=OPEN_RETURN_STATUSES)
            .order_by()
            .values("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        returns = reverse("admin:returns_returnrequest_changelist")
        groups.append(
            {
                "key": "returns",
                "title": "Open returns",
                "total": {"count": sum(found.values()), "url": f"{returns}?queue=open"},
                "items": [
                    {
                        "key": status,
                        "label": label,
                        "count": found.get(status, 0),
                        "url": f"{returns}?{urlencode({'status__exact': status})}",
                    }
                    for status, label in ReturnStatus.choices
                    if status in OPEN_RETURN_STATUSES
                ],
            }
        )
    if user.has_perm("returns.view_refund"):
        found = dict(
            Refund.objects.filter(status__in=[Refund.Status.PENDING, Refund.Status.FAILED])
            .order_by()
            .values("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        refunds = reverse("admin:returns_refund_changelist")
        groups.append(
            {
                "key": "refunds",
                "title": "Refunds",
                "total": None,
                "items": [
                    {
                        "key": status,
                        "label": label,
                        "count": found.get(status, 0),
                        "url": f"{refunds}?{urlencode({'status__exact': status})}",
                    }
                    for status, label in ((Refund.Status.PENDING, "To settle"), (Refund.Status.FAILED, "Failed"))
                ],
            }
        )
    if user.has_perm("returns.view_ordererrorcase"):
        found = dict(
            OrderErrorCase.objects.filter(status=OrderErrorCase.Status.OPEN)
            .order_by()
            .values("root_cause")
            .annotate(n=Count("pk"))
            .values_list("root_cause", "n")
        )
        errors = reverse("admin:returns_ordererrorcase_changelist")
        open_errors = {"status__exact": OrderErrorCase.Status.OPEN}
        groups.append(
            {
                "key": "order_errors",
                "title": "Order errors open",
                "total": {"count": sum(found.values()), "url": f"{errors}?{urlencode(open_errors)}"},
                "items": [
                    {
                        "key": cause,
                        "label": label,
                        "count": found.get(cause, 0),
                        "url": f"{errors}?{urlencode({**open_errors, 'root_cause__exact': cause})}",
                    }
                    for cause, label in OrderErrorCase.RootCause.choices
                ],
            }
        )
    return {"groups": groups}
