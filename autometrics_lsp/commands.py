"""Command ids the server offers through workspace/executeCommand, and the figures a chart command can open.

Ids are prefixed `autometrics.server.` so they never clash with the VS Code extension's own `autometrics.*` commands.
"""

from __future__ import annotations

from autometrics_lsp.queries import Figure

OPEN_CHART = "autometrics.server.openChart"
COPY_QUERY = "autometrics.server.copyQuery"
REFRESH = "autometrics.server.refresh"
STATUS = "autometrics.server.status"
LIST_FUNCTIONS = "autometrics.server.listFunctions"

ALL = (OPEN_CHART, COPY_QUERY, REFRESH, STATUS, LIST_FUNCTIONS)

# What a lens click opens: the question a lens raises most is "why these errors?".
LENS_FIGURE = Figure.ERROR_RATIO
CHARTABLE_FIGURES = (
    Figure.RATE,
    Figure.ERROR_RATIO,
    Figure.P95,
    Figure.P99,
    Figure.CONCURRENCY,
    Figure.CALLERS,
    Figure.CALLEES,
    Figure.ERRORS_BY_TYPE,
)
