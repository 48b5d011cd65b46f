"""The console's home: which sections a signed-in person gets, by what their permissions make theirs.

Those who run the order flow (``orders.view_cockpit``) get the operations cockpit (``cockpit.py``: key figures
and charts of a period); the others get their own work instead, the warehouse's (``warehouse.py``) and the
returns desk's (``returns.py``). Everyone who may see orders also gets the order queue with its late, at-risk
and on-hold orders (``order_queue.py``). ``OpsAdminSite.index`` renders it with ``templates/admin/ops_index.html``.
"""

from .cockpit import cockpit_context, may_see_cockpit
from .holds import holds_context, may_see_holds
from .order_queue import dashboard_context
from .returns import returns_work
from .warehouse import warehouse_work


def home_context(request) -> dict:
    """The home's sections for the request's user; a section that is not theirs is ``None``."""
    user = request.user
    return {
        "cockpit": cockpit_context(request) if may_see_cockpit(user) else None,
        "holds": holds_context(request) if may_see_holds(user) else None,
        "warehouse_work": None if may_see_cockpit(user) else warehouse_work(user),
        "returns_work": None if may_see_cockpit(user) else returns_work(user),
        **dashboard_context(request),
    }
