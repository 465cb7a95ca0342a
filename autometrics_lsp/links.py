"""Deep links from a figure to its chart: Prometheus 2 graph, Prometheus 3 query page, or Grafana Explore.

Pure string building. A link never carries credentials: userinfo in a configured URL is dropped, and the
auth settings are never read here.
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from autometrics_lsp.settings import LinkTarget, Settings, split_url_credentials

# Grafana accepts any pane id in the URL; a fixed one keeps links stable.
_GRAFANA_PANE_ID = "am1"
_PROMETHEUS_DATASOURCE_TYPE = "prometheus"


def public_base_url(url: str) -> str:
    """`url` without userinfo, query, fragment and trailing slashes: safe to show and to append paths to."""
    parts = urlsplit(split_url_credentials(url)[0])
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _with_query(base: str, path: str, params: dict[str, str]) -> str:
    # quote (not quote_plus) so a space is %20 and parentheses are escaped: the URL then survives as a
    # markdown link destination and in every UI's query parser.
    return f"{public_base_url(base)}{path}?{urlencode(params, quote_via=quote, safe='')}"


def prometheus_graph_url(base: str, expr: str, range_: str) -> str:
    return _with_query(
        base, "/graph", {"g0.expr": expr, "g0.tab": "0", "g0.range_input": range_}
    )


def prometheus3_query_url(base: str, expr: str, range_: str) -> str:
    return _with_query(
        base, "/query", {"g0.expr": expr, "g0.tab": "graph", "g0.range_input": range_}
    )


def grafana_explore_url(base: str, datasource_uid: str | None, expr: str, range_: str) -> str:
    """Explore with one pane (URL schema version 1); without a uid Grafana uses its default datasource."""
    query: dict[str, object] = {"refId": "A", "expr": expr, "editorMode": "code", "range": True}
    pane: dict[str, object] = {"queries": [query], "range": {"from": f"now-{range_}", "to": "now"}}
    if datasource_uid:
        datasource = {"type": _PROMETHEUS_DATASOURCE_TYPE, "uid": datasource_uid}
        query["datasource"] = datasource
        pane["datasource"] = datasource_uid
    panes = json.dumps({_GRAFANA_PANE_ID: pane}, separators=(",", ":"))
    return _with_query(base, "/explore", {"schemaVersion": "1", "panes": panes})


def chart_url(settings: Settings, expr: str, range_: str = "1h") -> str:
    """The chart of `expr` over the last `range_` where `settings.link_target` points.

    The Grafana target needs `grafana_url`; until it is set, links go to the Prometheus 2 graph.
    """
    target = LinkTarget(settings.link_target)
    if target is LinkTarget.GRAFANA and settings.grafana_url:
        return grafana_explore_url(settings.grafana_url, settings.grafana_datasource, expr, range_)
    if target is LinkTarget.PROMETHEUS3:
        return prometheus3_query_url(settings.prometheus_url, expr, range_)
    return prometheus_graph_url(settings.prometheus_url, expr, range_)
