"""Holds by type and age on the console's home, for who runs the order flow and may see holds."""

from orders.cockpit.holds import AGE_BANDS, holds_by_type_and_age


def may_see_holds(user) -> bool:
    return user.is_active and user.has_perms(("orders.view_cockpit", "orders.view_hold"))


def holds_context(request) -> dict:
    """The open holds as a table: a row per type, a column per age band, each count a link to its holds."""
    rows = holds_by_type_and_age()
    return {
        "bands": [label for _, label, _, _ in AGE_BANDS],
        "rows": rows,
        "total": sum(row.total.count for row in rows),
    }
