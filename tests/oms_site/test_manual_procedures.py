"""Standard operating procedures: managers write them in Markdown, shown safely, versioned, restorable, and
each shown on the console page it governs."""

import datetime as dt
import re

import pytest
from django.core.exceptions import ValidationError

from inventory.models import CycleCount
from oms_site import roles as role_table
from oms_site.manual import services
from oms_site.manual.models import Procedure, ProcedureVersion
from orders.models import OrderStatus
from tests.factories import OrderFactory, UserFactory, WarehouseFactory

pytestmark = pytest.mark.django_db

HOSTILE = """# Hold review

1. Read why the order is held.
2. <script>alert('held')</script>
3. [Call the bank](javascript:alert(document.cookie)) and [the carrier](JaVaScRiPt:void(0))
4. <img src=x onerror="alert(1)"> <iframe src="https://evil.example"></iframe>
5. <a href="https://evil.example" onclick="steal()">raw link</a>

[Order list](/admin/orders/order/?status__exact=on_hold) · [Policy](https://wiki.example/holds)
"""


@pytest.fixture
def manager(roles):
    return UserFactory(username="maya", first_name="Maya", last_name="Lindqvist", role=role_table.OPERATIONS_MANAGER)


@pytest.fixture
def associate(roles):
    return UserFactory(username="olivia", first_name="Olivia", last_name="Chen", role=role_table.OPERATIONS_ASSOCIATE)


def procedure_text(response) -> str:
    body = response.content.decode()
    start = body.index('id="procedure-text">') + len('id="procedure-text">')
    return body[start : body.index("</article>", start)]


def write(client, **fields):
    data = {"title": "Hold review", "slug": "hold-review", "governs": "hold_review", "body": "Check it.", "note": ""}
    return client.post("/admin/manual/procedures/add/", {**data, **fields})


def edit(client, slug, *, version, **fields):
    procedure = Procedure.objects.get(slug=slug)
    data = {"title": procedure.title, "governs": procedure.governs, "body": procedure.body, "note": ""}
    return client.post(f"/admin/manual/procedures/{slug}/edit/", {**data, "base_version": version, **fields})


# --- writing, and who may ---------------------------------------------------------------------------------


def test_a_manager_writes_a_procedure_and_every_role_reads_it(client, manager):
    client.force_login(manager)
    response = write(client, body="# Hold review\n\n- Read why it is held\n- **Call** the customer")
    assert response.status_code == 302 and response["Location"] == "/admin/manual/procedures/hold-review/"

    for role in role_table.ROLES:
        client.force_login(UserFactory(username=f"reader-{len(role)}-{role[:3]}", role=role))
        page = client.get("/admin/manual/procedures/hold-review/")
        assert page.status_code == 200
        assert "<h1>Hold review</h1>" in procedure_text(page)
        assert "<strong>Call</strong>" in procedure_text(page)
        listed = client.get("/admin/manual/procedures/")
        assert 'data-procedure="hold-review"' in listed.content.decode()


@pytest.mark.parametrize(
    "role", [role_table.OPERATIONS_ASSOCIATE, role_table.RETURNS_ASSOCIATE, role_table.WAREHOUSE_STAFF]
)
def test_only_operations_managers_write_edit_or_restore(client, manager, role):
    client.force_login(manager)
    write(client)
    edit(client, "hold-review", version=1, body="Check it twice.")
    client.force_login(UserFactory(username="someone", role=role))

    assert client.get("/admin/manual/procedures/add/").status_code == 403
    assert write(client, slug="other").status_code == 403
    assert client.get("/admin/manual/procedures/hold-review/edit/").status_code == 403
    assert edit(client, "hold-review", version=2, body="Mine now.").status_code == 403
    assert client.post("/admin/manual/procedures/hold-review/versions/1/restore/").status_code == 403
    page = client.get("/admin/manual/procedures/hold-review/")
    assert 'id="procedure-edit"' not in page.content.decode()
    assert (
        'id="procedure-restore"' not in client.get("/admin/manual/procedures/hold-review/versions/1/").content.decode()
    )
    assert Procedure.objects.get().version == 2 and Procedure.objects.get().body == "Check it twice."


def test_the_generic_console_pages_cannot_change_a_procedure_behind_its_versions(client, manager):
    client.force_login(manager)
    write(client)
    procedure = Procedure.objects.get()

    assert client.get("/admin/oms_site/procedure/add/").status_code == 403
    assert client.post(f"/admin/oms_site/procedure/{procedure.pk}/delete/").status_code == 403
    page = client.get(f"/admin/oms_site/procedure/{procedure.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    listed = client.get("/admin/oms_site/procedure/").content.decode()
    assert 'href="/admin/manual/procedures/hold-review/"' in listed


# --- safe Markdown --------------------------------------------------------------------------------------


def test_scripts_javascript_links_and_raw_html_come_out_as_inert_text(client, manager):
    client.force_login(manager)
    write(client, body=HOSTILE)

    shown = procedure_text(client.get("/admin/manual/procedures/hold-review/"))

    # no element but Markdown's own, no handler, no script URL
    tags = set(re.findall(r"<([a-z0-9]+)[\s>]", shown))
    assert tags <= {"h1", "ol", "li", "p", "a"}, tags
    assert not [tag for tag in re.findall(r"<[a-z][^>]*>", shown) if re.search(r"\son[a-z]+=", tag)]
    hrefs = re.findall(r'href="([^"]*)"', shown)
    assert hrefs == ["/admin/orders/order/?status__exact=on_hold", "https://wiki.example/holds"]
    # what was typed is still there to read, as text
    assert "&lt;script&gt;alert(&#x27;held&#x27;)&lt;/script&gt;" in shown or "&lt;script&gt;alert('held')" in shown
    assert "[Call the bank](javascript:alert(document.cookie))" in shown
    assert "&lt;iframe" in shown and "&lt;img src=x" in shown
    assert 'rel="noopener noreferrer"' in shown


# --- versions, differences, restore ------------------------------------------------------------------------


def test_each_save_is_a_version_with_who_when_and_what_changed(client, manager, associate):
    client.force_login(manager)
    write(client, body="Step one.\nStep two.\nStep three.", note="")
    edit(client, "hold-review", version=1, body="Step one.\nStep 2, with the bank.\nStep three.", note="Bank first")
    second_manager = UserFactory(
        username="noah", first_name="Noah", last_name="Park", role=role_table.OPERATIONS_MANAGER
    )
    client.force_login(second_manager)
    edit(client, "hold-review", version=2, title="Reviewing held orders", note="Clearer title")

    client.force_login(associate)  # any reader sees the history
    history = client.get("/admin/manual/procedures/hold-review/history/")
    rows = [
        " ".join(re.sub(r"<[^>]+>", " ", row).split())
        for row in re.findall(r'<tr data-version="\d+">(.*?)</tr>', history.content.decode(), re.S)
    ]
    assert [row.split(" ")[0] for row in rows] == ["3", "2", "1"]
    assert "Noah Park Clearer title" in rows[0] and "(current)" in rows[0]
    assert "Maya Lindqvist Bank first" in rows[1]
    assert "Maya Lindqvist First version" in rows[2]

    diff = client.get("/admin/manual/procedures/hold-review/diff/?from=1&to=2")
    body = diff.content.decode()
    assert re.search(r'class="manual-diff-removed">.*?<pre>Step two\.</pre>', body, re.S)
    assert re.search(r'class="manual-diff-added">.*?<pre>Step 2, with the bank\.</pre>', body, re.S)
    assert re.search(r'class="manual-diff-same">.*?<pre>Step one\.</pre>', body, re.S)
    title = client.get("/admin/manual/procedures/hold-review/diff/?from=2&to=3").content.decode()
    assert "<del>Hold review</del> → <ins>Reviewing held orders</ins>" in title
    assert client.get("/admin/manual/procedures/hold-review/diff/?from=1&to=9").status_code == 404


def test_restoring_an_old_version_adds_a_new_version_with_its_text(client, manager):
    client.force_login(manager)
    write(client, body="The old way.")
    edit(client, "hold-review", version=1, body="The new way.", note="New way")

    old = client.get("/admin/manual/procedures/hold-review/versions/1/")
    assert "The old way." in procedure_text(old) and 'id="procedure-restore"' in old.content.decode()
    response = client.post("/admin/manual/procedures/hold-review/versions/1/restore/")

    assert response.status_code == 302
    procedure = Procedure.objects.get()
    assert (procedure.version, procedure.body) == (3, "The old way.")
    restored = procedure.versions.get(number=3)
    assert (restored.restored_from, restored.note, restored.created_by) == (1, "Restored version 1", manager)
    # nothing in between is lost
    assert list(procedure.versions.order_by("number").values_list("body", flat=True)) == [
        "The old way.",
        "The new way.",
        "The old way.",
    ]
    assert "The old way." in procedure_text(client.get("/admin/manual/procedures/hold-review/"))


def test_a_save_over_someone_elses_newer_version_is_refused_and_nothing_is_written(client, manager):
    client.force_login(manager)
    write(client, body="Original.")
    edit(client, "hold-review", version=1, body="Noah's change.")

    response = edit(client, "hold-review", version=1, body="My stale change.")

    assert response.status_code == 200
    assert "saved version 2 while you were writing" in response.content.decode()
    assert Procedure.objects.get().body == "Noah's change." and ProcedureVersion.objects.count() == 2


def test_bad_input_names_the_field_and_writes_nothing(manager):
    with pytest.raises(ValidationError) as refused:
        services.create_procedure(slug="x", title=" ", governs="nowhere", body="", actor=manager)
    assert set(refused.value.message_dict) == {"title", "body", "governs"}
    services.create_procedure(slug="holds", title="Holds", governs="hold_review", body="Text", actor=manager)
    with pytest.raises(ValidationError) as refused:
        services.create_procedure(slug="holds-2", title="Holds again", governs="hold_review", body="T", actor=manager)
    assert "already shown on Hold review" in refused.value.message_dict["governs"][0]
    assert Procedure.objects.count() == 1 and ProcedureVersion.objects.count() == 1


# --- shown on the page it governs -------------------------------------------------------------------------------


@pytest.fixture
def governed(manager):
    for slug, title, governs in (
        ("hold-review", "Reviewing held orders", "hold_review"),
        ("receiving", "Receiving a delivery", "receiving"),
        ("counting", "Counting a bin", "counting"),
    ):
        services.create_procedure(
            slug=slug, title=title, governs=governs, body=f"**{title}** step by step.", actor=manager
        )


def shown_procedure(response) -> str:
    body = response.content.decode()
    match = re.search(r'<details class="manual-on-page" id="procedure-on-page">\s*<summary>Procedure: ([^<]+)', body)
    return match.group(1).strip() if match else ""


def test_the_hold_review_shows_the_hold_procedure(client, governed, associate):
    held = OrderFactory(status=OrderStatus.ON_HOLD)
    other = OrderFactory(status=OrderStatus.RECEIVED)
    client.force_login(associate)

    on_hold_list = client.get("/admin/orders/order/?status__exact=on_hold")
    assert shown_procedure(on_hold_list) == "Reviewing held orders"
    assert "<strong>Reviewing held orders</strong> step by step." in on_hold_list.content.decode()
    assert 'href="/admin/manual/procedures/hold-review/"' in on_hold_list.content.decode()
    assert shown_procedure(client.get(f"/admin/orders/order/{held.pk}/change/")) == "Reviewing held orders"
    assert shown_procedure(client.get(f"/admin/orders/order/act/release/?ids={held.pk}")) == "Reviewing held orders"
    # not on pages it does not govern
    assert shown_procedure(client.get("/admin/orders/order/")) == ""
    assert shown_procedure(client.get(f"/admin/orders/order/{other.pk}/change/")) == ""


def test_the_receive_page_shows_the_receiving_procedure_and_the_count_pages_the_counting_one(client, governed, roles):
    warehouse = WarehouseFactory(code="DAL")
    count = CycleCount.objects.create(warehouse=warehouse)
    client.force_login(UserFactory(username="wes", role=role_table.WAREHOUSE_STAFF))

    assert shown_procedure(client.get("/admin/inventory/stocklevel/receive/")) == "Receiving a delivery"
    assert shown_procedure(client.get("/admin/inventory/cyclecount/")) == "Counting a bin"
    assert shown_procedure(client.get(f"/admin/inventory/cyclecount/{count.pk}/change/")) == "Counting a bin"
    assert shown_procedure(client.get("/admin/inventory/stocklevel/")) == ""


def test_a_governed_page_shows_the_procedure_as_it_reads_now(client, governed, manager):
    client.force_login(manager)
    edit(client, "receiving", version=1, body="Weigh every carton first.")

    page = client.get("/admin/inventory/stocklevel/receive/")

    assert "Weigh every carton first." in page.content.decode()
    assert "(version 2, " in page.content.decode()
    assert dt.date.today().strftime("%Y") in page.content.decode()
