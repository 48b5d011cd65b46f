"""Every response carries the Content-Security-Policy: no inline script, nothing from other sites."""

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


@pytest.mark.parametrize(
    "url", ["/admin/login/", "/admin/", "/admin/orders/order/", "/api/v1/docs", "/api/v1/openapi.json", "/nowhere/"]
)
def test_the_policy_is_on_every_response(client, url):
    client.force_login(UserFactory(username="root", is_superuser=True))

    response = client.get(url)

    policy = directives(response)
    assert policy["script-src"].startswith("script-src 'self'")  # and the response's nonce where it has one
    assert "unsafe-inline" not in policy["script-src"]
    assert policy["object-src"] == "object-src 'none'"
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"


def test_the_api_answers_carry_it_too(client):
    response = client.post("/api/v1/orders", {}, content_type="application/json")

    assert response.status_code == 401
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_no_console_template_has_an_inline_script():
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "templates"
    inline = [
        str(path)
        for path in templates.rglob("*.html")
        for line in path.read_text().splitlines()
        if ("<script>" in line or " onclick=" in line or "javascript:" in line)
    ]
    assert inline == []


def test_a_page_with_a_nonce_gets_a_fresh_one_and_plain_responses_the_configured_policy(client):
    client.force_login(UserFactory(username="root", is_superuser=True))

    # the order list's date filters run inline scripts with the response's nonce: a new nonce each time
    first, second = (client.get("/admin/orders/order/").headers["Content-Security-Policy"] for _ in range(2))
    assert "'nonce-" in first and first != second

    # plain responses carry exactly the configured policy, the same text each time
    plain = [client.post("/api/v1/orders", {}, content_type="application/json") for _ in range(2)]
    headers = {response.headers["Content-Security-Policy"] for response in plain}
    assert len(headers) == 1 and "nonce" not in headers.pop()
