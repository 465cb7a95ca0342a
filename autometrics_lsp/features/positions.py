"""Spans of the static scan (0-based, UTF-16 columns, as LSP counts) to LSP types."""

from __future__ import annotations

from lsprotocol import types

from autometrics_lsp.instrumentation import Range


def lsp_range(span: Range) -> types.Range:
    start_line, start_column, end_line, end_column = span
    return types.Range(
        start=types.Position(line=start_line, character=start_column),
        end=types.Position(line=end_line, character=end_column),
    )
