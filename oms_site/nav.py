"""The console's sidebar: the lists a user may open, grouped by the work they serve (orders, stock, shipping,
money, messages, setup, the manual); a list no group names is kept under "Other".

``OpsAdminSite.each_context`` gives every console page the groups as ``oms_nav``, and the error pages do the
same for a signed-in user (``oms_site/errors.py``); ``templates/admin/nav_sidebar.html`` draws them.
"""

NAV_GROUPS = (
    ("orders", "Orders"),
    ("stock", "Stock"),
    ("shipping", "Shipping"),
    ("money", "Money"),
    ("messages", "Messages"),
    ("setup", "Setup"),
    ("manual", "Manual"),
    ("other", "Other"),
)
# (app label, model's object name or a console tool's key) -> group; in the order the group lists them.
NAV_PLACES = {
    key: group
    for group, keys in {
        "orders": [
            ("orders", "Order"),
            ("shipping", "Shipment"),
            ("returns", "ReturnRequest"),
            ("returns", "OrderErrorCase"),
            ("returns", "report"),
            ("orders", "Customer"),
            ("orders", "BusinessProfile"),
            ("inventory", "ImportJob"),
            ("orders", "CoverageRun"),
        ],
        "stock": [
            ("inventory", "StockLevel"),
            ("inventory", "StockMovement"),
            ("inventory", "Allocation"),
            ("inventory", "CycleCount"),
            ("inventory", "InventoryCheckRun"),
            ("inventory", "InventoryFinding"),
            ("inventory", "Warehouse"),
            ("inventory", "Product"),
            ("inventory", "SafetyStockRule"),
            ("inventory", "RoutingExclusion"),
        ],
        "shipping": [
            ("shipping", "LabelBatch"),
            ("shipping", "TrackingEvent"),
            ("shipping", "promise"),
            ("shipping", "Vendor"),
            ("shipping", "CarrierService"),
            ("partners", "PartnerConnection"),
            ("partners", "PartnerRelease"),
            ("partners", "PartnerMessage"),
            ("partners", "DeadLetter"),
        ],
        "money": [
            ("payments", "PaymentTransaction"),
            ("returns", "Refund"),
            ("payments", "ExportBatch"),
            ("payments", "JournalEntry"),
            ("payments", "Account"),
            ("payments", "AccountMapping"),
            ("payments", "CreditRule"),
            ("payments", "BlockedValue"),
        ],
        "messages": [
            ("notifications", "Message"),
            ("orders", "OrderDelayNotice"),
            ("notifications", "MessageTemplate"),
            ("notifications", "RecipientList"),
        ],
        "setup": [
            ("orders", "Channel"),
            ("orders", "ChannelVariant"),
            ("returns", "ReturnPolicy"),
            ("auth", "User"),
            ("auth", "Group"),
            ("django_celery_beat", "PeriodicTask"),
            ("django_celery_beat", "CrontabSchedule"),
            ("django_celery_beat", "IntervalSchedule"),
            ("django_celery_beat", "ClockedSchedule"),
            ("django_celery_beat", "SolarSchedule"),
            ("otp_totp", "TOTPDevice"),
            ("otp_static", "StaticDevice"),
            ("axes", "AccessAttempt"),
            ("axes", "AccessFailureLog"),
            ("axes", "AccessLog"),
        ],
        "manual": [
            ("oms_site", "manual"),
            ("oms_site", "Procedure"),
        ],
    }.items()
    for key in keys
}
NAV_ORDER = {key: index for index, key in enumerate(NAV_PLACES)}


def nav_groups(app_list: list[dict], current_path: str) -> list[dict]:
    """The admin's app list (what this user may see), regrouped by work; a model no group names goes to
    "Other", so nothing the user may open disappears. The entry whose address the page is under is current."""
    entries: dict[str, list[dict]] = {group: [] for group, _ in NAV_GROUPS}
    for app in app_list:
        for model in app["models"]:
            url = model.get("admin_url")
            if not url:
                continue
            key = (app["app_label"], model["object_name"])
            entries[NAV_PLACES.get(key, "other")].append(
                {
                    "name": model["name"],
                    "url": url,
                    "key": f"{key[0]}.{key[1].lower()}",
                    "order": NAV_ORDER.get(key, len(NAV_ORDER)),
                    "current": False,
                }
            )
    under = [entry for group in entries.values() for entry in group if current_path.startswith(entry["url"])]
    if under:
        max(under, key=lambda entry: len(entry["url"]))["current"] = True
    return [
        {"key": group, "title": title, "entries": sorted(entries[group], key=lambda e: (e["order"], str(e["name"])))}
        for group, title in NAV_GROUPS
        if entries[group]
    ]
