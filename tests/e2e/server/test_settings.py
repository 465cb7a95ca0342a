"""Settings end to end: initializationOptions, workspace/configuration, didChangeConfiguration, the environment."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types

from autometrics_lsp.demo.shop import api
from tests.support.lsp import hover_text, position_of

API = Path(api.__file__)
CHECKOUT = position_of(API, "def checkout", offset=len("def "))


def chart_base(markdown: str) -> str:
    """The URL the hover's first chart link points at, up to /graph."""
    start = markdown.index("Charts: [calls](") + len("Charts: [calls](")
    return markdown[start : markdown.index("/graph?", start)]


async def test_workspace_configuration_alone_is_enough(lsp_session, prometheus, metrics_window):
    async with lsp_session(configuration={"prometheusUrl": prometheus.url, "window": metrics_window}) as client:
        markdown = await hover_text(client, API, CHECKOUT)
    assert chart_base(markdown) == prometheus.url
    assert "| calls |" in markdown


async def test_workspace_configuration_overrides_initialization_options(lsp_session, prometheus, unused_tcp_port):
    async with lsp_session(
        {"prometheusUrl": f"http://127.0.0.1:{unused_tcp_port}", "window": "1m"},
        configuration={"prometheusUrl": prometheus.url},
    ) as client:
        markdown = await hover_text(client, API, CHECKOUT)
    assert chart_base(markdown) == prometheus.url
    assert "last 1m" in markdown  # keys the configuration does not set keep their initializationOptions value


async def test_configuration_changes_reach_the_running_server(lsp_session, prometheus, unused_tcp_port):
    refreshes: list[None] = []
    async with lsp_session({"prometheusUrl": prometheus.url}) as client:

        @client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
        def on_refresh(params: None) -> None:
            refreshes.append(params)

        assert chart_base(await hover_text(client, API, CHECKOUT)) == prometheus.url
        moved = f"http://127.0.0.1:{unused_tcp_port}"
        client.set_configuration({"prometheusUrl": moved}, section="autometrics")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        await asyncio.sleep(0.5)
        markdown = await hover_text(client, API, CHECKOUT)
    assert chart_base(markdown) == moved
    assert refreshes, "the server asks the client to refresh its lenses"


async def test_pushed_settings_are_read_too(lsp_session, prometheus, unused_tcp_port):
    async with lsp_session({"prometheusUrl": prometheus.url}) as client:
        moved = f"http://127.0.0.1:{unused_tcp_port}"
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"autometrics": {"prometheusUrl": moved}})
        )
        await asyncio.sleep(0.5)
        assert chart_base(await hover_text(client, API, CHECKOUT)) == moved


async def test_a_bad_value_gets_one_message_and_the_default(lsp_session, prometheus):
    async with lsp_session({"prometheusUrl": prometheus.url, "window": "five minutes", "colour": "red"}) as client:
        first = await hover_text(client, API, CHECKOUT)
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        await asyncio.sleep(0.5)
        await hover_text(client, API, CHECKOUT)
        shown = [message.message for message in client.messages]
        logged = [message.message for message in client.log_messages]

    assert "last 5m" in first  # the default window
    window_messages = [message for message in shown if "window" in message]
    assert len(window_messages) == 1 and "five minutes" in window_messages[0], shown
    assert not any("colour" in message for message in shown), "an unknown key is logged, not shown"
    assert any("colour" in message for message in logged)


async def test_prometheus_url_from_the_environment_is_the_fallback(lsp_session, prometheus):
    async with lsp_session(env={"PROMETHEUS_URL": prometheus.url}) as client:
        assert chart_base(await hover_text(client, API, CHECKOUT)) == prometheus.url
