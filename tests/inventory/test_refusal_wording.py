"""A refused form says why first, plainly; that nothing changed is only a quiet note after the reason."""

import pytest
from django import forms
from django.template.loader import render_to_string
from django.urls import reverse

pytestmark = pytest.mark.django_db


class RefusedForm(forms.Form):
    note = forms.CharField(required=False)

    def clean(self):
        raise forms.ValidationError("Cannot void a label that has shipped.")


def refusal_box(html: str) -> str:
    start = html.index('<div class="errornote oms-refusal" role="alert">')
    return html[start : html.index("</div>", start)]


def test_a_refused_stock_change_shows_the_services_reason_then_that_nothing_changed(
    client, superuser, sites, stock, product
):
    stock(sites["DAL"], product, 40)
    client.force_login(superuser)

    response = client.post(
        reverse("admin:inventory_stocklevel_adjust"),
        {"warehouse": sites["DAL"].pk, "product": product.pk, "quantity": "-50", "reason": "lost"},
    )

    box = refusal_box(response.content.decode())
    reason = "Cannot remove 50 × TEE-M at DAL: 40 on hand, 0 allocated, 40 available."
    assert box.index(reason) < box.index('<p class="oms-refusal-note">Nothing was changed.</p>')
    assert "The change was refused" not in response.content.decode()


@pytest.mark.parametrize("include", ["admin/oms/_form_fields.html"])
def test_every_console_form_puts_the_error_before_the_nothing_changed_note(include):
    form = RefusedForm({"note": "x"})
    assert not form.is_valid()

    box = refusal_box(render_to_string(include, {"form": form}))

    assert box.index("Cannot void a label that has shipped.") < box.index("Nothing was changed.")
