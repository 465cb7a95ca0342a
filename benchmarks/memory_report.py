"""Server memory and hover latency on a 100k+ line workspace (issue 7): does RSS stay bounded over 1,000 hovers?

    python benchmarks/memory_report.py [--hovers N] [--seed N]

The workspace is the hover benchmark's: networkx (from PyPI, cached in .cache/) with `@autometrics` on every
top-level function and method, live series for all of them in a real Prometheus (1 s scrape). Our server
(`python -m autometrics_lsp`, this interpreter) then hovers seeded positions, half on definitions, half on
call sites, each file opened (didOpen) just before its first hover, cycling over the positions until N hovers.

RSS (VmRSS) and its peak (VmHWM) are read from /proc after start-up, after the first pass over the positions
("indexing": every hovered file and what it imports parsed and inferred once), and every quarter of the run;
a server whose caches grow without bound shows it as RSS still rising in the later quarters.
Every process started here is stopped, as a process group, before the script returns.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from hover.lsp_client import LspClient
from hover.stack import start_live_data
from hover.stats import format_table, milliseconds, summarize
from hover.workload import PACKAGE_VERSION, HoverPosition, ModuleFile, build_workspace, choose_positions, download_package
from hover_latency import BACKEND_TIMEOUT_SECONDS, CACHE_DIR, LIVE_FIGURES_MARK, RSS_TARGET_MB, WINDOW, memory_mb

AFTER_START = "after start-up"
AFTER_INDEXING = "after indexing (1st pass)"


@dataclass(frozen=True)
class Checkpoint:
    name: str
    hovers: int
    rss_mb: float
    peak_mb: float


@dataclass
class Run:
    positions: int
    checkpoints: list[Checkpoint] = field(default_factory=list)
    first_pass_seconds: list[float] = field(default_factory=list)
    later_seconds: list[float] = field(default_factory=list)
    live: int = 0
    answered: int = 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hovers", type=int, default=1000, help="hovers in all (default 1000)")
    parser.add_argument("--positions", type=int, default=250, help="distinct positions, hovered in turn")
    parser.add_argument("--seed", type=int, default=3, help="chooses the positions and the traffic")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="memory-report-") as temporary, ExitStack() as stack:
        work_dir = Path(temporary)
        workload = build_workspace(download_package(CACHE_DIR), work_dir / "workspace")
        positions = choose_positions(workload, args.positions, args.seed)
        print(
            f"workload: networkx {PACKAGE_VERSION}, {len(workload.files)} modules, {workload.lines:,} lines, "
            f"{len(workload.functions()):,} instrumented functions; {len(positions)} positions in "
            f"{len({position.file for position in positions})} files, {args.hovers} hovers"
        )
        live = start_live_data(stack, workload.functions(), work_dir, seed=args.seed)
        print(f"Prometheus answering rate() for every function after {time.monotonic() - started:.0f} s")
        run = asyncio.run(
            measure(workload.root, live.prometheus_url, positions, args.hovers, work_dir / "server.stderr.log")
        )
    print()
    print(report(run))
    print(f"\ntotal time {time.monotonic() - started:.0f} s; load average at the end {os.getloadavg()[0]:.2f}")
    return 0


async def measure(
    root: Path, prometheus_url: str, positions: Sequence[HoverPosition], hovers: int, stderr_path: Path
) -> Run:
    client = await LspClient.start([sys.executable, "-m", "autometrics_lsp"], cwd=root, stderr_path=stderr_path)
    try:
        await client.initialize(
            root, {"prometheusUrl": prometheus_url, "window": WINDOW, "timeout": BACKEND_TIMEOUT_SECONDS}
        )
        run = Run(positions=len(positions))
        _checkpoint(run, client.pid, AFTER_START, 0)
        quarters = {hovers * quarter // 4: f"after {hovers * quarter // 4} hovers" for quarter in (1, 2, 3, 4)}
        opened: set[ModuleFile] = set()
        for index in range(hovers):
            position = positions[index % len(positions)]
            if position.file not in opened:
                client.open_document(position.file.path, position.file.path.read_text(encoding="utf-8"))
                opened.add(position.file)
            began = time.perf_counter()
            answer = await client.hover(position.file.path, position.site.line, position.site.character)
            elapsed = time.perf_counter() - began
            (run.first_pass_seconds if index < len(positions) else run.later_seconds).append(elapsed)
            if answer is not None:
                run.answered += 1
                run.live += LIVE_FIGURES_MARK in str(answer.get("contents", ""))
            done = index + 1
            if done == len(positions):
                _checkpoint(run, client.pid, AFTER_INDEXING, done)
            if done in quarters:
                _checkpoint(run, client.pid, quarters[done], done)
        return run
    finally:
        await client.close()


def _checkpoint(run: Run, pid: int, name: str, hovers: int) -> None:
    rss, peak = memory_mb(pid)
    run.checkpoints.append(Checkpoint(name, hovers, rss, peak))


def report(run: Run) -> str:
    memory = format_table(
        ["checkpoint", "hovers", "RSS MB", "peak RSS MB"],
        [[point.name, str(point.hovers), f"{point.rss_mb:.0f}", f"{point.peak_mb:.0f}"] for point in run.checkpoints],
    )
    latency_rows = []
    for name, samples in (("1st pass (indexing)", run.first_pass_seconds), ("later passes", run.later_seconds)):
        if samples:
            summary = summarize(samples)
            latency_rows.append(
                [name, str(summary.count), milliseconds(summary.p50), milliseconds(summary.p95), milliseconds(summary.p99)]
            )
    latency = format_table(["hovers", "count", "p50", "p95", "p99"], latency_rows)
    final = run.checkpoints[-1]
    indexing = next(point for point in run.checkpoints if point.name == AFTER_INDEXING)
    # Issue 7's target is the RSS after indexing and after the hovers; the peak (VmHWM) is printed beside it,
    # since a transient peak above the target is worth knowing too.
    verdict = "met" if max(indexing.rss_mb, final.rss_mb) < RSS_TARGET_MB else "MISSED"
    return "\n".join(
        [
            memory,
            "",
            latency,
            "",
            f"{run.answered} hovers answered, {run.live} with live figures",
            f"RSS growth from indexing to the end: {final.rss_mb - indexing.rss_mb:+.0f} MB",
            f"target: RSS under {RSS_TARGET_MB:.0f} MB after indexing and after {final.hovers} hovers: {verdict} "
            f"({indexing.rss_mb:.0f} MB and {final.rss_mb:.0f} MB; peak {final.peak_mb:.0f} MB"
            f"{', above the target' if final.peak_mb >= RSS_TARGET_MB else ''})",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
