"""The one page of returns outside the console: the customer's return label, from the signed link in their email."""

from __future__ import annotations

from django.core import signing
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from . import services
from .models import ReturnRequest


def label_response(rma_id: int) -> FileResponse:
    """The return's label PDF (rendered now if the background render has not run yet, or its file was lost)."""
    rma = ReturnRequest.objects.filter(pk=rma_id).first()
    if rma is None or rma.status not in services.labels.LABELLED:
        raise Http404("This return has no label.")
    if not rma.label_file or not rma.label_file.storage.exists(rma.label_file.name):
        rma = services.render_return_label(rma_id=rma.pk)
        if rma is None:  # rejected since it was read: it no longer has a label
            raise Http404("This return has no label.")
    response = FileResponse(rma.label_file.open("rb"), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{rma.number}.pdf"'
    return response


@require_GET
def public_label(request: HttpRequest, token: str) -> HttpResponse:
    """No login: the signed token names the return and expires after RETURNS_LABEL_LINK_DAYS."""
    try:
        rma_id = services.rma_from_token(token)
    except signing.BadSignature:
        return HttpResponse("This return label link is not valid or has expired.", status=404)
    response = label_response(rma_id)
    response["Cache-Control"] = "private, no-store"
    return response
