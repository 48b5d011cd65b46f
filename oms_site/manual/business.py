"""The manual's pages of the business customers: one per customer, written from its setup as it is now.

Each page says what the customer's order process is (where its orders ship from and never from, its carrier,
how its parcels are packed, what its packing slip shows, who gets copies of its emails, its credit) and where
each rule shows in the work (routing's reason, the pick list, the packing slip, the label, the order page),
with when the setup last changed and who changed it (the setup's history: the profile, its contacts, its
checklist).
"""

from __future__ import annotations

from .changes import Change, person
from .sections import Section, register_section


def _last_changes(profiles) -> dict[int, Change]:
    """The newest history record of each customer's setup, its contacts or its checklist, by profile id: three
    queries (one a history table), whatever the number of customers."""
    from django.db.models import OuterRef, Subquery

    from orders.models import BusinessContact, BusinessProfile, SetupCheck

    by_id = {profile.pk: profile for profile in profiles}
    newest: dict[int, tuple] = {}
    for model, key in ((BusinessProfile, "id"), (BusinessContact, "profile_id"), (SetupCheck, "profile_id")):
        ordered = ("-history_date", "-history_id")
        latest = model.history.filter(**{key: OuterRef(key)}).order_by(*ordered).values("history_id")[:1]
        records = (
            model.history.filter(**{f"{key}__in": list(by_id)})
            .filter(history_id=Subquery(latest))
            .select_related("history_user")
        )
        for record in records:
            profile_id = getattr(record, key)
            kept = newest.get(profile_id)
            if kept is None or record.history_date > kept[1].history_date:
                newest[profile_id] = (model, record)
    changes = {}
    for profile_id, (model, record) in newest.items():
        verb = {"+": "added", "~": "changed", "-": "deleted"}.get(record.history_type, "changed")
        changes[profile_id] = Change(
            at=record.history_date,
            by=person(record.history_user),
            what=f"{model._meta.verbose_name.capitalize()} of {by_id[profile_id].customer.name}",
            verb=verb,
        )
    return changes


def business_customers() -> dict:
    from orders.models import BusinessProfile
    from orders.services.business import checklist

    profiles = list(
        BusinessProfile.objects.select_related("customer", "preferred_vendor", "preferred_service__vendor")
        .prefetch_related("default_warehouses", "excluded_warehouses", "contacts", "checks")
        .order_by("customer__name", "pk")
    )
    changed = _last_changes(profiles)
    customers = []
    for profile in profiles:
        steps = checklist(profile)
        customers.append(
            {
                "profile": profile,
                "customer": profile.customer,
                "default_codes": [w.code for w in sorted(profile.default_warehouses.all(), key=lambda w: w.code)],
                "excluded_codes": [w.code for w in sorted(profile.excluded_warehouses.all(), key=lambda w: w.code)],
                "carrier": (
                    f"{profile.preferred_service.vendor.name} {profile.preferred_service.name}"
                    if profile.preferred_service
                    else (profile.preferred_vendor.name if profile.preferred_vendor else "")
                ),
                "contacts": list(profile.contacts.all()),
                "steps": steps,
                "done": sum(1 for step in steps if step.done),
                "changed": changed.get(profile.pk),
            }
        )
    changes = [entry["changed"] for entry in customers if entry["changed"]]
    return {
        "customers": customers,
        "changed": max(changes, key=lambda change: change.at, default=None),
    }


register_section(
    Section(
        "business-customers",
        "Business customers",
        "Each business customer's own order process: warehouses, carrier, packing, documents, contacts, credit.",
        business_customers,
        set_in=("orders.BusinessProfile",),
        permission="orders.view_businessprofile",  # credit limits and the contacts' addresses
    )
)
