"""Any Prometheus-compatible backend, behind auth, through the real server.

- VictoriaMetrics scraping the same shop gives the same hover, objective and lenses as Prometheus.
- Bearer token, basic auth and extra headers (`X-Scope-OrgID`) reach the backend (a real HTTP server recording
  what it receives); none of the secrets shows up in the server's stderr (at debug level), in logMessage or
  showMessage, in hover text or in links.
- Wrong credentials, a query the backend rejects, a malformed URL: one clear line in the hover, and ONE
  showMessage however many hovers follow.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from autometrics_lsp.demo.shop import api, payments
from tests.support.fault_server import FaultServer, HttpStatus, PrometheusError
from tests.support.hover_text import assert_figures_match, parse_percent, parse_rate
from tests.support.lsp import hover_text, lenses, position_of, resolve_all

SHOP = Path(api.__file__).parent
API = SHOP / "api.py"
PAYMENTS = SHOP / "payments.py"
CHECKOUT_DEFINITION = position_of(API, "def checkout", offset=len("def "))
HOVERS_AFTER_A_FAILURE = 3

SECRET_TOKEN = "tok-3f9a7c1e-never-shown"
SECRET_PASSWORD = "pw-81b2d4-never-shown"
SECRET_HEADER_VALUE = "key-5e0c6a-never-shown"
SECRETS = (SECRET_TOKEN, SECRET_PASSWORD, SECRET_HEADER_VALUE)


def warnings_shown(client: LanguageClient) -> list[str]:
    return [message.message for message in client.messages if message.type == types.MessageType.Warning]


def problem_lines(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("⚠")]


# --- VictoriaMetrics ------------------------------------------------------------------------------


@pytest.fixture
def victoria_settings(victoria_metrics, metrics_window) -> dict:
    return {"prometheusUrl": victoria_metrics.url, "window": metrics_window, "timeout": 5.0}


async def test_victoria_metrics_hover_matches_the_traffic_plan(lsp_session, victoria_settings, shop_service):
    async with lsp_session(victoria_settings) as client:
        charge = await hover_text(client, PAYMENTS, position_of(PAYMENTS, "def charge", offset=len("def ")))
        checkout = await hover_text(client, API, CHECKOUT_DEFINITION)

    assert charge is not None and checkout is not None
    assert not problem_lines(charge) and not problem_lines(checkout), charge + checkout
    assert_figures_match(charge, shop_service.plan.of(payments.charge))
    assert_figures_match(checkout, shop_service.plan.of(api.checkout))
    assert "Objective `payments`: **violated**" in charge
    assert "Objective `checkout`: met" in checkout
    assert "| callee |" in checkout and "payments.charge" in checkout
    assert f"Charts: [calls]({victoria_settings['prometheusUrl']}/graph?g0.expr=" in checkout


async def test_victoria_metrics_lenses_match_the_traffic_plan(lsp_session, victoria_settings, shop_service):
    async with lsp_session(victoria_settings) as client:
        resolved = await resolve_all(client, await lenses(client, API))

    titles = {lens.data["function"]: lens.command.title for lens in resolved}
    for function in (api.checkout, api.browse_catalog):
        rate_text, errors_text, p99_text = titles[function.__qualname__].split(" · ")
        traffic = shop_service.plan.of(function)
        assert parse_rate(rate_text) == pytest.approx(traffic.calls_per_second, rel=0.25), titles
        assert parse_percent(errors_text.removesuffix(" errors")) == pytest.approx(traffic.error_ratio, abs=0.06)
        assert p99_text.startswith("p99 ")


# --- auth -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "expected_headers"),
    [
        ({"bearerToken": SECRET_TOKEN}, {"authorization": f"Bearer {SECRET_TOKEN}"}),
        # base64 of "team-a:<password>"
        (
            {"basicAuth": {"username": "team-a", "password": SECRET_PASSWORD}},
            {"authorization": "Basic dGVhbS1hOnB3LTgxYjJkNC1uZXZlci1zaG93bg=="},
        ),
        (
            {"headers": {"X-Scope-OrgID": "tenant-7", "X-Api-Key": SECRET_HEADER_VALUE}},
            {"x-scope-orgid": "tenant-7", "x-api-key": SECRET_HEADER_VALUE},
        ),
    ],
    ids=["bearer", "basic", "headers"],
)
async def test_credentials_and_headers_reach_the_backend(lsp_session, auth, expected_headers):
    with FaultServer() as backend:
        async with lsp_session({"prometheusUrl": backend.url, "timeout": 2.0, **auth}) as client:
            markdown = await hover_text(client, API, CHECKOUT_DEFINITION)
        queries = [request for request in backend.requests if request.path.endswith("/api/v1/query")]

    assert markdown is not None and not problem_lines(markdown), markdown
    assert queries, "the hover asked the backend"
    for request in queries:
        assert {name: request.headers.get(name) for name in expected_headers} == expected_headers


async def test_secrets_never_reach_logs_messages_hovers_or_links(lsp_session, workspace_root, capfd):
    settings = {
        "bearerToken": SECRET_TOKEN,
        "headers": {"X-Api-Key": SECRET_HEADER_VALUE},
        "timeout": 2.0,
        "linkTarget": "prometheus3",
    }
    with FaultServer() as backend:
        # credentials in the URL itself are moved to basic auth; the backend rejects them all
        host = backend.url.removeprefix("http://")
        settings["prometheusUrl"] = f"http://team-a:{SECRET_PASSWORD}@{host}"
        backend.behave(HttpStatus(401, body=f"bad token {SECRET_TOKEN}".encode()))
        async with lsp_session(settings, server_args=("--log-level", "debug")) as client:
            markdowns = [
                await hover_text(client, API, CHECKOUT_DEFINITION),
                await hover_text(client, PAYMENTS, position_of(PAYMENTS, "def charge", offset=len("def "))),
            ]
            lens_titles = [lens.command.title for lens in await resolve_all(client, await lenses(client, API))]
        asked = backend.requests

    stderr = capfd.readouterr().err
    assert asked and all(request.headers.get("authorization") for request in asked)
    assert "DEBUG" in stderr, "the server's debug log was captured"
    shown = [
        stderr,
        *(markdown or "" for markdown in markdowns),
        *lens_titles,
        *(message.message for message in client.messages),
        *(message.message for message in client.log_messages),
    ]
    assert all(markdown and "Charts:" in markdown for markdown in markdowns)
    for text in shown:
        for secret in SECRETS:
            assert secret not in text


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (HttpStatus(401), "rejected the credentials (HTTP 401)"),
        (HttpStatus(403), "denied access with these credentials (HTTP 403)"),
        (PrometheusError(), 'rejected a query: invalid parameter "query": 1:1: parse error: unknown function'),
    ],
    ids=["401", "403", "unsupported-function"],
)
async def test_backend_refusal_is_one_hover_line_and_one_message(lsp_session, failure, reason):
    with FaultServer() as backend:
        backend.behave(failure)
        async with lsp_session({"prometheusUrl": backend.url, "timeout": 2.0, "bearerToken": "wrong"}) as client:
            markdowns = [await hover_text(client, API, CHECKOUT_DEFINITION) for _ in range(HOVERS_AFTER_A_FAILURE)]
            shown = warnings_shown(client)

    for markdown in markdowns:
        assert markdown is not None
        [line] = problem_lines(markdown)
        assert backend.url in line and reason in line, markdown
        assert "Traceback" not in markdown
    assert len([message for message in shown if reason in message]) == 1, shown


async def test_malformed_url_is_one_message_and_one_hover_line(lsp_session):
    url = "http://127.0.0.1:notaport"
    async with lsp_session({"prometheusUrl": url, "timeout": 1.0}) as client:
        markdowns = [await hover_text(client, API, CHECKOUT_DEFINITION) for _ in range(HOVERS_AFTER_A_FAILURE)]
        shown = warnings_shown(client)

    about_the_url = [message for message in shown if "prometheusUrl" in message]
    assert len(about_the_url) == 1, shown
    for markdown in markdowns:
        assert markdown is not None and len(problem_lines(markdown)) == 1, markdown
