"""jedi's memory stays bounded: parso's tree cache keeps only the most recently used modules, and a module whose
tree was dropped still resolves (jedi parses it again). Real jedi on a workspace of more modules than are kept."""

from __future__ import annotations

from pathlib import Path

import parso.cache

from autometrics_lsp.symbols import PARSED_MODULES_KEPT, Symbols

MODULES = PARSED_MODULES_KEPT + 40


def parsed_modules() -> int:
    return sum(len(by_path) for by_path in parso.cache.parser_cache.values())


def write_chain(root: Path) -> None:
    """m0 ... mN, each calling the function of the next: `from m1 import f1` / `def f0(): return f1()`."""
    for index in range(MODULES):
        after = index + 1
        body = f"from m{after} import f{after}\n\n\ndef f{index}():\n    return f{after}()\n"
        if after == MODULES:
            body = f"def f{index}():\n    return {index}\n"
        (root / f"m{index}.py").write_text(body, encoding="utf-8")


async def test_parsed_modules_stay_capped_and_dropped_ones_still_resolve(tmp_path: Path) -> None:
    write_chain(tmp_path)
    parso.cache.parser_cache.clear()
    symbols = Symbols([tmp_path])
    try:
        for index in range(MODULES - 1):
            path = tmp_path / f"m{index}.py"
            site = await symbols.definition_at(path, path.read_text(encoding="utf-8"), 4, 12)  # `f<next>()`
            assert site is not None and site.path == tmp_path / f"m{index + 1}.py"
            assert parsed_modules() <= PARSED_MODULES_KEPT
        first = tmp_path / "m0.py"  # its tree was dropped long ago
        site = await symbols.definition_at(first, first.read_text(encoding="utf-8"), 4, 12)
    finally:
        await symbols.close()

    assert site is not None and (site.path, site.line) == (tmp_path / "m1.py", 3)
    assert parsed_modules() <= PARSED_MODULES_KEPT
