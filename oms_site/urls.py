from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from orders.returns.views import public_label
from orders.status_page import brand_css, status_logo, status_page, status_return, status_return_label

from .api import api
from .demo_store import product_page as demo_store_product_page

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # The return label a customer opens from their email: a signed link, no login.
    path("returns/label/<str:token>/", public_label, name="return_label"),
    # The customer's order status page, from the link in every email about the order: no login, revocable.
    path("orders/status/brand.css", brand_css, name="order_status_brand_css"),
    path("orders/status/<str:token>/", status_page, name="order_status_page"),
    # A store's product page with the delivery-date snippet, against the demo channel (DEMO_STORE_ENABLED).
    path("demo-store/", demo_store_product_page, name="demo_store"),
    # The return form on that page posts here; a return's label opens behind the same token.
    path("orders/status/<str:token>/return/", status_return, name="order_status_return"),
    path("orders/status/<str:token>/logo", status_logo, name="order_status_logo"),
    path(
        "orders/status/<str:token>/returns/<str:number>/label.pdf",
        status_return_label,
        name="order_status_return_label",
    ),
]

# The console's own error pages (branded, the person's name, the way back): oms_site/errors.py.
handler403 = "oms_site.errors.permission_denied"
handler404 = "oms_site.errors.page_not_found"
handler500 = "oms_site.errors.server_error"
