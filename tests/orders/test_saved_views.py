"""A user saves the list they are looking at as a view of their own: a tab with its count, theirs only."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from orders.models import OrderStatus, SavedOrderView
from tests.factories import OrderFactory, UserFactory

S = OrderStatus
pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:orders_order_changelist")
SAVE = reverse("admin:orders_order_save_view")


@pytest.fixture(autouse=True)
def fresh_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def associate(client, roles):
    user = UserFactory(username="olivia", role="Operations associate")
    client.force_login(user)
    return user


def saved_tabs(response) -> dict[str, dict]:
    return {tab["label"]: tab for tab in response.context["order_tabs"] if tab["view_id"]}


def page_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_saving_the_filtered_list_makes_a_tab_with_its_count_and_marks_it(client, associate):
    # given a few held orders and others
    OrderFactory.create_batch(2, status=S.ON_HOLD, held_from_status=S.RECEIVED)
    OrderFactory(status=S.RECEIVED)

    # when she saves the list of held orders, sorted by total, on page 1
    listing = client.get(CHANGELIST, {"status__exact": "on_hold", "o": "9", "p": "1"})
    assert 'name="query" value="status__exact=on_hold&amp;o=9"' in listing.content.decode()
    response = client.post(SAVE, {"name": "  Held to check ", "query": "status__exact=on_hold&o=9&p=1"}, follow=True)

    # then she is on that list, told so, and it is her tab with its count, marked
    view = SavedOrderView.objects.get(user=associate)
    assert (view.name, view.query) == ("Held to check", "status__exact=on_hold&o=9")
    assert page_messages(response) == ["Saved the view “Held to check”: it is a tab above the list."]
    tab = saved_tabs(response)["Held to check"]
    assert tab["count"] == "2"
    assert tab["active"]
    assert tab["url"] == f"{CHANGELIST}?status__exact=on_hold&o=9"
    assert len(response.context["cl"].result_list) == 2


def test_a_view_with_a_search_counts_what_its_list_lists(client, associate):
    wanted = OrderFactory(status=S.RECEIVED)
    OrderFactory.create_batch(2)
    SavedOrderView.objects.create(user=associate, name="Ana", query=f"q={wanted.customer.email}&status__exact=received")

    response = client.get(CHANGELIST)

    tab = saved_tabs(response)["Ana"]
    assert tab["count"] == "1"
    assert len(client.get(tab["url"]).context["cl"].result_list) == 1


def test_users_never_see_each_others_views(client, associate):
    other = UserFactory(username="marco", role="Operations associate")
    SavedOrderView.objects.create(user=other, name="Marco's", query="status__exact=on_hold")
    SavedOrderView.objects.create(user=associate, name="Mine", query="status__exact=received")

    response = client.get(CHANGELIST)

    assert list(saved_tabs(response)) == ["Mine"]
    assert "Marco&#x27;s" not in response.content.decode()


def test_the_owner_deletes_a_view_and_nobody_else_can(client, associate):
    other = UserFactory(username="marco", role="Operations associate")
    theirs = SavedOrderView.objects.create(user=other, name="Marco's", query="status__exact=on_hold")
    mine = SavedOrderView.objects.create(user=associate, name="Mine", query="status__exact=received")
    delete = "admin:orders_order_delete_saved_view"

    assert client.post(reverse(delete, args=[theirs.pk])).status_code == 404
    assert client.get(reverse(delete, args=[mine.pk])).status_code == 405
    response = client.post(reverse(delete, args=[mine.pk]), follow=True)

    assert page_messages(response) == ["Deleted the view “Mine”."]
    assert list(SavedOrderView.objects.values_list("name", flat=True)) == ["Marco's"]
    assert saved_tabs(response) == {}


@pytest.mark.parametrize(
    ("name", "query", "error"),
    [
        ("", "status__exact=on_hold", "Give the view a name."),
        ("x" * 61, "status__exact=on_hold", "A view's name is at most 60 characters (this one has 61)."),
        (
            "Everything",
            "",
            "This list has no filter or search to save: pick a tab or a filter, or search, then save it.",
        ),
        (
            "Page two",
            "p=2&o=3",
            "This list has no filter or search to save: pick a tab or a filter, or search, then save it.",
        ),
        (
            "Too long",
            "q=" + "a" * 1000,
            "These filters are too long to save as a view (1,002 characters; at most 1,000).",
        ),
        ("Bad", "no_such_field=1", "The list cannot apply these filters; pick them again."),
    ],
    ids=["no-name", "long-name", "no-filter", "only-page-and-sort", "long-query", "unknown-filter"],
)
def test_a_bad_name_or_filter_is_refused_with_a_clear_error(client, associate, name, query, error):
    response = client.post(SAVE, {"name": name, "query": query}, follow=True)

    assert page_messages(response) == [f"The view was not saved. {error}"]
    assert not SavedOrderView.objects.exists()


def test_a_second_view_with_the_same_name_is_refused(client, associate):
    SavedOrderView.objects.create(user=associate, name="Held", query="status__exact=on_hold")
    other = UserFactory(username="marco", role="Operations associate")
    SavedOrderView.objects.create(user=other, name="Late", query="promise=late")

    refused = client.post(SAVE, {"name": "Held", "query": "status__exact=received"}, follow=True)
    allowed = client.post(SAVE, {"name": "Late", "query": "promise=late"}, follow=True)  # another user's name

    assert page_messages(refused) == [
        "The view was not saved. You already have a view named “Held”: pick another name."
    ]
    assert page_messages(allowed) == ["Saved the view “Late”: it is a tab above the list."]
    assert SavedOrderView.objects.filter(user=associate).count() == 2


def test_saving_needs_a_csrf_token_and_a_post(associate):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(associate)

    assert strict.post(SAVE, {"name": "Held", "query": "status__exact=on_hold"}).status_code == 403
    assert strict.get(SAVE).status_code == 405
    assert not SavedOrderView.objects.exists()


def test_someone_who_may_not_see_orders_cannot_save_a_view(client):
    client.force_login(UserFactory(username="nobody"))

    response = client.post(SAVE, {"name": "Held", "query": "status__exact=on_hold"})

    assert response.status_code == 403
    assert not SavedOrderView.objects.exists()


def test_the_save_form_shows_only_on_a_filtered_list(client, associate):
    assert "Save this view" not in client.get(CHANGELIST).content.decode()
    assert "Save this view" in client.get(CHANGELIST, {"promise": "late"}).content.decode()
