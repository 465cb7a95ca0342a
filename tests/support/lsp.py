"""What an LSP test does again and again: open a file, find a position in it, hover there."""

from __future__ import annotations

import asyncio

from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient


def open_document(client: LanguageClient, path: Path) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=path.read_text())
        )
    )
    return uri


def position_of(path: Path, needle: str, *, offset: int = 0, occurrence: int = 1) -> types.Position:
    """The 0-based position of the `occurrence`-th `needle` in the file, moved `offset` characters right."""
    seen = 0
    for line_number, line in enumerate(path.read_text().splitlines()):
        start = line.find(needle)
        while start != -1:
            seen += 1
            if seen == occurrence:
                return types.Position(line=line_number, character=start + offset)
            start = line.find(needle, start + 1)
    raise AssertionError(f"{needle!r} (occurrence {occurrence}) not found in {path}")


async def hover_text(client: LanguageClient, path: Path, position: types.Position) -> str | None:
    uri = open_document(client, path)
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=position)
    )
    if hover is None:
        return None
    assert isinstance(hover.contents, types.MarkupContent)
    assert hover.contents.kind == types.MarkupKind.Markdown
    return hover.contents.value


async def lenses(client, path: Path) -> list[types.CodeLens]:
    uri = open_document(client, path)
    return await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )


async def resolve_all(client, unresolved: list[types.CodeLens]) -> list[types.CodeLens]:
    return list(await asyncio.gather(*(client.code_lens_resolve_async(lens) for lens in unresolved)))
