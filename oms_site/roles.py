"""The roles and what each may do: one table, applied after every migrate.

A role is a group of the same name. ``apply_roles`` (connected to
``post_migrate``) makes each group hold exactly the permissions listed here:
a permission added to the table is granted, one removed is taken away, and
a change made to these groups by hand in the console lasts until the next
migrate. Users outside these groups (superusers, ad-hoc groups) are not
touched. Permissions are named ``app_label.codename``.
"""

from __future__ import annotations

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions

OPERATIONS_MANAGER = "Operations manager"
OPERATIONS_ASSOCIATE = "Operations associate"
RETURNS_ASSOCIATE = "Returns associate"
WAREHOUSE_STAFF = "Warehouse staff"

ROLES: dict[str, list[str]] = {
    OPERATIONS_MANAGER: [
        # orders
        "orders.view_order",
        "orders.hold_order",
        "orders.cancel_order",
        "orders.view_orderline",
        "orders.view_orderevent",
        "orders.view_channel",
        "orders.add_channel",
        "orders.change_channel",
        "orders.view_customer",
        "orders.add_customer",
        "orders.change_customer",
        "orders.view_address",
        "orders.add_address",
        "orders.change_address",
        "orders.view_channelapikey",
        "orders.add_channelapikey",
        "orders.change_channelapikey",
        "orders.view_channelvariant",
        "orders.add_channelvariant",
        "orders.change_channelvariant",
        "orders.delete_channelvariant",
        "orders.change_order_address",
        "orders.edit_order_lines",
        "orders.override_address_check",
        "orders.view_cockpit",
        "orders.view_coveragerun",  # network coverage and the siting what-if
        "orders.add_coveragerun",
        "orders.view_orderdelaynotice",
        "orders.suppress_delay_notice",
        "orders.change_shipments",
        "orders.view_hold",
        # a hold of each type: operations managers release every type
        "orders.release_fraud_review_hold",
        "orders.release_address_check_hold",
        "orders.release_payment_hold",
        "orders.release_customer_request_hold",
        "orders.release_stock_hold",
        "orders.release_credit_rule_hold",
        "orders.add_customernote",  # the customer record: notes and tags
        "orders.tag_customer",
        "orders.merge_customer",  # managers only: merge duplicates, export and erase personal data
        "orders.export_customer_data",
        "orders.erase_customer",
        # business customers: managers set up each one's order process and confirm its checklist
        "orders.view_businessprofile",
        "orders.add_businessprofile",
        "orders.change_businessprofile",
        "orders.delete_businessprofile",  # a duplicate's setup, before the two customers are merged
        "orders.view_businesscontact",
        "orders.add_businesscontact",
        "orders.change_businesscontact",
        "orders.delete_businesscontact",
        "orders.view_setupcheck",
        "orders.confirm_business_setup",
        "orders.set_po_number",
        # inventory
        "inventory.view_product",
        "inventory.add_product",
        "inventory.change_product",
        "inventory.view_warehouse",
        "inventory.add_warehouse",
        "inventory.change_warehouse",
        "inventory.view_stocklevel",
        "inventory.change_stocklevel",
        "inventory.receive_stock",
        "inventory.adjust_stock",
        "inventory.transfer_stock",
        "inventory.view_stockmovement",
        "inventory.view_allocation",
        "inventory.view_safetystockrule",
        "inventory.add_safetystockrule",
        "inventory.change_safetystockrule",
        "inventory.delete_safetystockrule",
        "inventory.view_routingexclusion",
        "inventory.add_routingexclusion",
        "inventory.change_routingexclusion",
        "inventory.delete_routingexclusion",
        "inventory.view_cyclecount",
        "inventory.add_cyclecount",
        "inventory.change_cyclecount",
        "inventory.approve_cyclecount",
        "inventory.view_inventorycheckrun",
        "inventory.view_inventoryfinding",
        "inventory.view_importjob",
        "orders.import_orders",
        "inventory.import_stock_receipts",
        # django_celery_beat
        "django_celery_beat.view_periodictask",
        "django_celery_beat.change_periodictask",
        "django_celery_beat.view_crontabschedule",
        "django_celery_beat.add_crontabschedule",
        "django_celery_beat.change_crontabschedule",
        "django_celery_beat.view_intervalschedule",
        "django_celery_beat.add_intervalschedule",
        "django_celery_beat.change_intervalschedule",
        # notifications
        "notifications.view_message",
        "notifications.resend_message",
        "notifications.view_messagetemplate",
        "notifications.add_messagetemplate",
        "notifications.change_messagetemplate",
        "notifications.delete_messagetemplate",
        "notifications.view_recipientlist",
        "notifications.add_recipientlist",
        "notifications.change_recipientlist",
        # shipping
        "shipping.view_vendor",
        "shipping.add_vendor",
        "shipping.change_vendor",
        "shipping.view_carrierservice",
        "shipping.add_carrierservice",
        "shipping.change_carrierservice",
        "shipping.view_transittime",
        "shipping.add_transittime",
        "shipping.change_transittime",
        "shipping.view_rate",
        "shipping.add_rate",
        "shipping.change_rate",
        "shipping.view_shipment",
        "shipping.view_shipmentline",
        "shipping.view_parcel",
        "shipping.view_trackingevent",
        "shipping.view_lane",
        "shipping.view_labelbatch",
        "shipping.add_labelbatch",
        "shipping.print_labels",
        "shipping.ship_shipment",
        "shipping.record_tracking",
        "shipping.override_carrier",
        "shipping.approve_shipping_cost",
        "shipping.issue_webhook_token",
        # payments
        "payments.view_paymenttransaction",
        "payments.view_creditrule",
        "payments.add_creditrule",
        "payments.change_creditrule",
        "payments.delete_creditrule",
        "payments.view_blockedvalue",
        "payments.add_blockedvalue",
        "payments.change_blockedvalue",
        "payments.delete_blockedvalue",
        "payments.view_account",
        "payments.add_account",
        "payments.change_account",
        "payments.view_accountmapping",
        "payments.change_accountmapping",
        "payments.view_journalentry",
        "payments.view_journalline",
        "payments.view_exportbatch",
        "payments.mark_paid",
        "payments.refund_payment",
        "payments.resend_exportbatch",
        "payments.capture_again",
        # returns
        "returns.view_returnrequest",
        "returns.add_returnrequest",
        "returns.process_returnrequest",
        "returns.refund_returnrequest",
        "returns.view_refund",
        "returns.view_ordererrorcase",
        "returns.resolve_ordererrorcase",
        "returns.view_returnpolicy",
        "returns.change_returnpolicy",
        "returns.view_reasonrule",
        "returns.change_reasonrule",
        "returns.settle_refund",
        "returns.view_variantgroup",
        "returns.add_variantgroup",
        "returns.change_variantgroup",
        "returns.delete_variantgroup",
        "returns.view_storecredit",
        # partners (3PL warehouses)
        "partners.view_partnerconnection",
        "partners.add_partnerconnection",
        "partners.change_partnerconnection",
        "partners.manage_partnerconnection",
        "partners.view_partnermessage",
        "partners.resend_partnermessage",
        "partners.edit_partnermessage_payload",
        "partners.view_deadletter",
        "partners.view_partnerrelease",
        "partners.request_partnerrelease",
        # axes
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
        "axes.view_accessfailurelog",
        # the operations manual: read it, write and restore its procedures
        "oms_site.view_manual",
        "oms_site.view_procedure",
        "oms_site.add_procedure",
        "oms_site.change_procedure",
    ],
    OPERATIONS_ASSOCIATE: [
        # orders
        "orders.view_order",
        "orders.hold_order",
        "orders.view_orderline",
        "orders.view_orderevent",
        "orders.view_channel",
        "orders.view_customer",
        "orders.change_customer",
        "orders.view_address",
        "orders.add_address",
        "orders.change_address",
        "orders.view_channelapikey",
        "orders.view_channelvariant",
        "orders.change_order_address",
        "orders.edit_order_lines",
        "orders.view_cockpit",
        "orders.view_orderdelaynotice",
        "orders.suppress_delay_notice",
        "orders.change_shipments",
        "orders.view_hold",
        # associates release the holds they work day to day; fraud reviews and credit rules are a manager's call
        "orders.release_address_check_hold",
        "orders.release_payment_hold",
        "orders.release_customer_request_hold",
        "orders.release_stock_hold",
        "orders.add_customernote",  # the customer record: notes and tags
        "orders.tag_customer",
        "orders.view_businessprofile",  # a business customer's setup: read, and the PO number of its orders
        "orders.view_businesscontact",
        "orders.view_setupcheck",
        "orders.set_po_number",
        # inventory
        "inventory.view_product",
        "inventory.view_warehouse",
        "inventory.view_stocklevel",
        "inventory.view_stockmovement",
        "inventory.view_allocation",
        "inventory.view_safetystockrule",
        "inventory.view_routingexclusion",
        "inventory.view_inventorycheckrun",
        "inventory.view_inventoryfinding",
        "inventory.view_importjob",
        "orders.import_orders",
        # notifications
        "notifications.view_message",
        "notifications.resend_message",
        "notifications.view_messagetemplate",
        "notifications.view_recipientlist",
        # shipping
        "shipping.view_vendor",
        "shipping.view_carrierservice",
        "shipping.view_transittime",
        "shipping.view_rate",
        "shipping.view_shipment",
        "shipping.view_shipmentline",
        "shipping.view_parcel",
        "shipping.view_trackingevent",
        "shipping.view_labelbatch",
        "shipping.record_tracking",
        "shipping.override_carrier",
        # payments
        "payments.view_paymenttransaction",
        "payments.view_creditrule",
        "payments.view_blockedvalue",
        "payments.add_blockedvalue",
        # returns
        "returns.view_returnrequest",
        "returns.view_refund",
        "returns.view_ordererrorcase",
        "returns.view_returnpolicy",
        "returns.view_reasonrule",
        "returns.view_variantgroup",
        "returns.view_storecredit",
        # the operations manual: read it
        "oms_site.view_manual",
        "oms_site.view_procedure",
        # partners (3PL warehouses): the log, dead letters and releases; resend, never the connections' settings
        "partners.view_partnerconnection",
        "partners.view_partnermessage",
        "partners.resend_partnermessage",
        "partners.view_deadletter",
        "partners.view_partnerrelease",
    ],
    RETURNS_ASSOCIATE: [
        # orders
        "orders.view_order",
        "orders.view_orderline",
        "orders.view_orderevent",
        "orders.view_channel",
        "orders.view_customer",
        "orders.view_address",
        # inventory
        "inventory.view_product",
        "inventory.view_warehouse",
        "inventory.view_stocklevel",
        "inventory.view_stockmovement",
        # notifications
        "notifications.view_message",
        # shipping
        "shipping.view_shipment",
        "shipping.view_trackingevent",
        # payments
        "payments.view_paymenttransaction",
        "payments.refund_payment",
        # returns
        "returns.view_returnrequest",
        "returns.add_returnrequest",
        "returns.process_returnrequest",
        "returns.refund_returnrequest",
        "returns.view_refund",
        "returns.view_ordererrorcase",
        "returns.resolve_ordererrorcase",
        "returns.view_returnpolicy",
        "returns.view_reasonrule",
        "returns.view_variantgroup",
        "returns.view_storecredit",
        "returns.settle_refund",
        # the operations manual: read it
        "oms_site.view_manual",
        "oms_site.view_procedure",
    ],
    WAREHOUSE_STAFF: [
        # orders
        "orders.view_order",
        "orders.view_orderline",
        # inventory
        "inventory.view_product",
        "inventory.view_warehouse",
        "inventory.view_stocklevel",
        "inventory.change_stocklevel",
        "inventory.receive_stock",
        "inventory.transfer_stock",
        "inventory.view_stockmovement",
        "inventory.view_allocation",
        "inventory.view_cyclecount",
        "inventory.add_cyclecount",
        "inventory.change_cyclecount",
        "inventory.view_importjob",
        "inventory.import_stock_receipts",
        # shipping
        "shipping.view_vendor",
        "shipping.view_carrierservice",
        "shipping.view_shipment",
        "shipping.view_shipmentline",
        "shipping.view_parcel",
        "shipping.view_labelbatch",
        "shipping.add_labelbatch",
        "shipping.print_labels",
        "shipping.ship_shipment",
        # returns
        "returns.view_returnrequest",
        # the operations manual: read it
        "oms_site.view_manual",
        "oms_site.view_procedure",
    ],
}


def apply_roles(*, apps=global_apps, verbosity: int = 0) -> None:
    """Make each role's group hold exactly the permissions of the table (creating what is missing)."""
    for app_config in apps.get_app_configs():  # permissions of every app, before they are granted
        create_permissions(app_config, apps=apps, verbosity=verbosity)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    known = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.values_list("pk", "content_type__app_label", "codename")
    }
    for role, names in ROLES.items():
        missing = [name for name in names if name not in known]
        if missing:
            raise LookupError(f"Role {role!r} names permissions that do not exist: {', '.join(missing)}")
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([known[name] for name in names])


def apply_roles_after_migrate(sender, *, apps=global_apps, verbosity: int = 0, **kwargs) -> None:
    """``post_migrate`` (auth's, once per migrate): every app's permissions are made first, then granted."""
    apply_roles(apps=global_apps, verbosity=verbosity)
