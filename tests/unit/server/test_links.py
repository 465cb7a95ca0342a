"""Deep-link shapes for each link target, parsed back with urllib."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autometrics_lsp.links import (
    chart_url,
    grafana_explore_url,
    prometheus3_query_url,
    prometheus_graph_url,
    public_base_url,
)
from autometrics_lsp.settings import LinkTarget, Settings

EXPR = 'sum(rate({__name__=~"function_calls(_count)?(_total)?", function="a b&c#d", module="m"}[5m]))'


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)


def test_prometheus_graph_link_round_trips_the_expression() -> None:
    url = chart_url(Settings(prometheus_url="http://prom.example:9090"), EXPR)

    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "prom.example:9090", "/graph")
    assert query_of(url) == {"g0.expr": [EXPR], "g0.tab": ["0"], "g0.range_input": ["1h"]}


def test_prometheus3_link_uses_the_query_page_and_named_tab() -> None:
    settings = Settings(prometheus_url="https://prom.example", link_target=LinkTarget.PROMETHEUS3)

    url = chart_url(settings, EXPR, range_="6h")

    assert urlsplit(url).path == "/query"
    assert query_of(url) == {"g0.expr": [EXPR], "g0.tab": ["graph"], "g0.range_input": ["6h"]}


def test_grafana_link_is_an_explore_pane_with_the_datasource_uid() -> None:
    settings = Settings(
        link_target=LinkTarget.GRAFANA,
        grafana_url="https://grafana.example/sub/",
        grafana_datasource="P1809F7CD0C75ACF3",
    )

    url = chart_url(settings, EXPR)

    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == ("grafana.example", "/sub/explore")
    query = query_of(url)
    assert query["schemaVersion"] == ["1"]
    (pane,) = json.loads(query["panes"][0]).values()
    assert pane["datasource"] == "P1809F7CD0C75ACF3"
    assert pane["range"] == {"from": "now-1h", "to": "now"}
    (grafana_query,) = pane["queries"]
    assert grafana_query["expr"] == EXPR
    assert grafana_query["datasource"] == {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}


def test_grafana_link_without_datasource_leaves_the_choice_to_grafana() -> None:
    settings = Settings(link_target=LinkTarget.GRAFANA, grafana_url="http://grafana.example")

    (pane,) = json.loads(query_of(chart_url(settings, EXPR))["panes"][0]).values()

    assert "datasource" not in pane
    assert "datasource" not in pane["queries"][0]


def test_grafana_target_without_grafana_url_falls_back_to_the_prometheus_graph() -> None:
    settings = Settings(prometheus_url="http://prom.example:9090", link_target=LinkTarget.GRAFANA)

    assert urlsplit(chart_url(settings, EXPR)).path == "/graph"


@pytest.mark.parametrize(
    ("configured", "expected_base"),
    [
        ("http://localhost:9090", "http://localhost:9090"),
        ("http://localhost:9090/", "http://localhost:9090"),
        ("https://proxy.example/prometheus/", "https://proxy.example/prometheus"),
        ("http://[::1]:9090/p//", "http://[::1]:9090/p"),
    ],
)
def test_path_prefixes_are_kept_and_trailing_slashes_dropped(configured: str, expected_base: str) -> None:
    url = chart_url(Settings(prometheus_url=configured), "up")

    assert url.startswith(f"{expected_base}/graph?")


@pytest.mark.parametrize(
    "build",
    [
        lambda base: prometheus_graph_url(base, EXPR, "1h"),
        lambda base: prometheus3_query_url(base, EXPR, "1h"),
        lambda base: grafana_explore_url(base, "uid", EXPR, "1h"),
    ],
    ids=["prometheus", "prometheus3", "grafana"],
)
def test_links_never_carry_credentials(build: Callable[[str], str]) -> None:
    # Settings refuse such URLs already; links must hold even for a URL that got past them.
    url = build("http://alice:s3cret@prom.example:9090/p")

    assert "alice" not in url and "s3cret" not in url and "@" not in url
    assert urlsplit(url).hostname == "prom.example"


def test_public_base_url_drops_query_and_fragment() -> None:
    assert public_base_url("http://u:p@h.example:1/x/?a=1#f") == "http://h.example:1/x"


@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=200))
def test_every_expression_round_trips_and_stays_a_valid_markdown_destination(expr: str) -> None:
    url = chart_url(Settings(), expr)

    assert query_of(url)["g0.expr"] == [expr]
    # Markdown ends a link destination at a blank or a closing parenthesis.
    assert not any(char in url for char in " ()<>\n\t")
