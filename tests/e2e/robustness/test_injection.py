"""Injection, both ways: crafted names into PromQL, crafted label values from the backend into hover markdown.

1. Function and module names with quotes, backslashes, newlines and PromQL syntax go through the real server
   (`autometrics.server.copyQuery`, every chartable figure) to the real Prometheus scraping the sample shop: each
   query is valid PromQL and matches nothing, while the same query for the real name finds the shop's data.
2. A backend answering with crafted `caller_function` / `caller_module` / `error` labels (markdown links,
   `javascript:` URLs, HTML, backticks, newlines) cannot put a link or HTML into the hover: the markdown is parsed
   with markdown-it-py (CommonMark with HTML allowed and tables, as editors render it) and holds no HTML and no
   link but our chart links.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any

import pytest
from lsprotocol import types
from markdown_it import MarkdownIt
from markdown_it.token import Token

from autometrics_lsp import commands
from autometrics_lsp.demo.stack import RunningBackend
from autometrics_lsp.runtime import names
from tests.e2e.robustness.conftest import INSTRUMENTED_MODULE, RobustSessionFactory
from tests.support.fault_server import FaultServer, Healthy, vector

SHOP_MODULE = "autometrics_lsp.demo.shop.payments"
SHOP_FUNCTION = "charge"
# `charge` calls no instrumented function; `checkout` calls `charge`.
SHOP_CALLER = ("autometrics_lsp.demo.shop.api", "checkout")
CRAFTED_SUFFIXES = (
    '", module=~".+',
    '"} or {__name__=~".+',
    '\\", function=~".*',
    "\\",
    '"',
    "\n} or vector(1) #",
    '`) or on() vector(1) or (',
)
# A file name that was not UTF-8 (decoded with surrogateescape), and the replacement character itself.
NOT_UTF8_NAMES = ("charge\udcff", "charge\ufffd")
CHART_FIGURES = [figure.value for figure in commands.CHARTABLE_FIGURES]

# Every label a hover shows from the backend's answers: callers, callees, error types.
LABELS_FROM_THE_BACKEND = (names.CALLER_FUNCTION, names.CALLER_MODULE, names.FUNCTION, names.MODULE, names.ERROR)
SHOWN_EDGES = 5  # a hover lists the five busiest callers and callees
HOSTILE_VALUES = (
    "evil](javascript:alert(1))",
    "[click](javascript:alert(1))",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "a`b``c` [x](http://evil.example)",
    "line\n\n# heading\n[x](http://evil.example)",
    "| cell | injected |\n|---|---|",
    "![img](http://evil.example/pixel.png)",
    "<http://evil.example>",
    "http://evil.example/autolink",
    "&lt;b&gt; \\` \\\\",
)


def instant_query(backend_url: str, expr: str) -> dict[str, Any]:
    body = urllib.parse.urlencode({"query": expr}).encode()
    request = urllib.request.Request(backend_url + "/api/v1/query", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:
        return json.load(error)


@pytest.mark.parametrize("figure", CHART_FIGURES)
async def test_crafted_names_make_valid_promql_that_matches_nothing(
    robust_session: RobustSessionFactory, prometheus: RunningBackend, metrics_window: str, figure: str
) -> None:
    module, function = SHOP_CALLER if figure == "callees" else (SHOP_MODULE, SHOP_FUNCTION)
    crafted = [(module, function + suffix) for suffix in CRAFTED_SUFFIXES]
    crafted += [(module + suffix, function) for suffix in CRAFTED_SUFFIXES]
    async with robust_session(prometheus.url, window=metrics_window) as session:
        real = await session.command(commands.COPY_QUERY, {"module": module, "function": function, "figure": figure})
        queries = [
            await session.command(commands.COPY_QUERY, {"module": module, "function": function, "figure": figure})
            for module, function in crafted
        ]

    real_answer = instant_query(prometheus.url, real["query"])
    assert real_answer["status"] == "success" and real_answer["data"]["result"], real["query"]
    for (module, function), query in zip(crafted, queries, strict=True):
        answer = instant_query(prometheus.url, query["query"])
        assert answer["status"] == "success", f"{module!r}.{function!r}: {answer} for {query['query']}"
        assert answer["data"]["result"] == [], f"{module!r}.{function!r} widened {query['query']}"


async def test_names_that_were_not_utf8_make_valid_promql_that_matches_nothing(
    robust_session: RobustSessionFactory, prometheus: RunningBackend, metrics_window: str
) -> None:
    async with robust_session(prometheus.url, window=metrics_window) as session:
        queries = [
            await session.command(commands.COPY_QUERY, {"module": SHOP_MODULE, "function": function})
            for function in NOT_UTF8_NAMES
        ]
    for query in queries:
        answer = instant_query(prometheus.url, query["query"])
        assert answer["status"] == "success", f"{answer} for {query['query']}"
        assert answer["data"]["result"] == []


def links_and_html(markdown: str) -> tuple[list[str], list[str]]:
    """Every link target and every piece of raw HTML an editor's markdown renderer would produce."""
    parser = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table")
    links: list[str] = []
    html: list[str] = []
    pending: list[Token] = list(parser.parse(markdown))
    while pending:
        token = pending.pop()
        pending.extend(token.children or [])
        if token.type == "link_open":
            links.append(str(token.attrGet("href")))
        elif token.type == "image":
            links.append(str(token.attrGet("src")))
        elif token.type in ("html_inline", "html_block"):
            html.append(token.content)
    return links, html


@pytest.mark.parametrize(
    "hostile_values", [HOSTILE_VALUES[start : start + SHOWN_EDGES] for start in range(0, len(HOSTILE_VALUES), SHOWN_EDGES)]
)
async def test_hostile_label_values_from_the_backend_cannot_put_links_or_html_into_the_hover(
    robust_session: RobustSessionFactory, fault_backend: FaultServer, hostile_values: tuple[str, ...]
) -> None:
    async with robust_session(fault_backend.url) as session:
        uri = session.open("sample.py", INSTRUMENTED_MODULE)
        await session.hover(uri, 6, 5)  # to learn which queries a hover makes
        grouped = {
            request.form["query"]
            for request in fault_backend.requests
            if request.path.endswith("/query") and "by (" in request.form.get("query", "")
            and "by (le)" not in request.form["query"]
        }
        assert grouped, "a hover asks for callers, callees and error types grouped by their labels"
        hostile = vector(*(
            ({label: value for label in LABELS_FROM_THE_BACKEND} | {names.RESULT: names.RESULT_ERROR}, 1.0)
            for value in hostile_values
        ))
        fault_backend.behave(Healthy(results=dict.fromkeys(grouped, hostile)))
        await session.command(commands.REFRESH)
        hover = await session.hover(uri, 6, 5)

    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    markdown = hover.contents.value
    links, html = links_and_html(markdown)
    assert html == [], markdown
    assert links, "the hover should still carry its chart links"
    chart_prefix = fault_backend.url + "/graph?"
    assert [link for link in links if not link.startswith(chart_prefix)] == [], markdown
    # The hostile values are there, as text: one row each in the callers and the callees tables, and error types.
    edge_rows = [line for line in markdown.splitlines() if line.startswith("| `")]
    assert len(edge_rows) == 2 * len(hostile_values), markdown
    assert "Errors by type:" in markdown
