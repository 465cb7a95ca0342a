"""Hover latency with live metrics, beside jedi-language-server's plain hover, on a large real codebase.

    python benchmarks/hover_latency.py [--positions N] [--seed N] [--lens-rounds N] [--py-spy FILE]

One run: networkx (from PyPI, cached in .cache/) is unpacked into a temporary workspace with `@autometrics` on
every top-level function and method; an exporter serves series for all of them to a real Prometheus
(1 s scrape); then our server (`python -m autometrics_lsp`, this interpreter) and jedi-language-server (its
own venv, .cache/bench-venvs/jls, created on first use) run side by side and take turns hovering the same
seeded positions — half on definitions, half on call sites — driven by the same LSP client. Each file is
opened (didOpen) just before a server's first hover in it.

Phases: "cold" is the first hover in each file, "first pass" the other hovers of the first pass, "warm" a
second pass over every position. Both servers' RSS is read from /proc after start-up, after the first pass
(every hovered file and what it imports parsed and inferred) and after all hovers. Then, if our server offers
code lenses, a 200-function file gets codeLens + resolve of every lens a few times, with the query-API
requests Prometheus served for each round.
Every process started here is stopped, as a process group, before the script returns.

`--py-spy FILE` samples our server with py-spy (its own venv, .cache/bench-venvs/tools) from start-up to the
end of the hovers and writes collapsed stacks to FILE (`flamegraph.pl` or speedscope read them); sampling
slows the server, so that run's timings are not the benchmark's.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hover.lsp_client import LspClient, LspError
from hover.stack import LiveData, api_requests_served, start_live_data
from hover.stats import Summary, format_table, milliseconds, ratio, summarize, times
from hover.workload import (
    PACKAGE_VERSION,
    HoverPosition,
    ModuleFile,
    Workload,
    build_workspace,
    choose_positions,
    download_package,
)

from autometrics_lsp import __version__ as our_version

BENCHMARKS_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parent
CACHE_DIR = REPO_ROOT / ".cache" / "hover-bench"
JLS_VENV = REPO_ROOT / ".cache" / "bench-venvs" / "jls"
JLS_REQUIREMENT = "jedi-language-server==0.47.0"
TOOLS_VENV = REPO_ROOT / ".cache" / "bench-venvs" / "tools"
PY_SPY_REQUIREMENT = "py-spy==0.4.3"

COLD, FIRST_PASS, WARM = "cold (1st hover of a file)", "first pass, other hovers", "warm (2nd pass)"
PHASES = (COLD, FIRST_PASS, WARM)
AFTER_START, AFTER_FIRST_PASS, AFTER_ALL_HOVERS = "after start-up", "after 1st pass", "after 2nd pass (all hovers)"

# Targets: issue 3 (warm p95 with live values, and against jedi-language-server), issue 7 (memory).
WARM_P95_TARGET_SECONDS = 0.100
MAX_P95_RATIO_TO_JLS = 1.3
RSS_TARGET_MB = 300.0
MAX_LENS_REQUESTS = 4
SLOWEST_SHOWN = 8
# What our hover markdown shows only when live figures came back (the figures table's header row).
LIVE_FIGURES_MARK = "| calls | errors | p95 | p99"
PROBLEM_MARK = "⚠"
WINDOW = "5m"
BACKEND_TIMEOUT_SECONDS = 1.0
# The backend's result cache keeps answers this long; lens rounds are spaced further apart so each one queries.
BACKEND_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class ServerSpec:
    name: str
    command: list[str]
    initialization_options: Any = None


@dataclass
class HoverOutcomes:
    answered: int = 0
    live: int = 0
    problems: int = 0
    errors: int = 0
    """JSON-RPC error answers: timed like any answer, so a server that fails fast gains nothing."""


@dataclass(frozen=True)
class LensRound:
    lenses: int
    list_seconds: float  # the codeLens request alone
    total_seconds: float  # codeLens, then every resolve answered
    api_requests: int


@dataclass
class ServerRun:
    name: str
    pid: int
    samples: dict[str, list[float]] = field(default_factory=lambda: {phase: [] for phase in PHASES})
    warm_by_position: dict[HoverPosition, float] = field(default_factory=dict)
    outcomes: dict[str, HoverOutcomes] = field(default_factory=lambda: {phase: HoverOutcomes() for phase in PHASES})
    memory: dict[str, tuple[float, float]] = field(default_factory=dict)  # checkpoint -> (VmRSS, VmHWM) in MB
    lens_rounds: list[LensRound] = field(default_factory=list)
    shown_messages: list[str] = field(default_factory=list)
    error_examples: list[str] = field(default_factory=list)


@dataclass
class Measurement:
    workspace: Path
    ours: ServerRun
    jls: ServerRun
    api_requests: dict[str, int] = field(default_factory=dict)  # pass -> query-API requests Prometheus served


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positions", type=int, default=500, help="hover positions (each hovered twice)")
    parser.add_argument("--seed", type=int, default=3, help="chooses the positions and the traffic")
    parser.add_argument("--lens-rounds", type=int, default=5, help="codeLens + resolve rounds on the lens file")
    parser.add_argument("--py-spy", type=Path, metavar="FILE", help="profile our server; collapsed stacks to FILE")
    args = parser.parse_args(argv)
    started = time.monotonic()
    print(_environment())
    jls_command = _venv_tool(JLS_VENV, JLS_REQUIREMENT, "jedi-language-server")
    py_spy = _venv_tool(TOOLS_VENV, PY_SPY_REQUIREMENT, "py-spy") if args.py_spy else None
    with tempfile.TemporaryDirectory(prefix="hover-bench-") as temporary, ExitStack() as stack:
        work_dir = Path(temporary)
        workload = build_workspace(download_package(CACHE_DIR), work_dir / "workspace")
        positions = choose_positions(workload, args.positions, args.seed)
        print(
            f"workload: networkx {PACKAGE_VERSION}, {len(workload.files)} modules, {workload.lines:,} lines, "
            f"{len(workload.functions()):,} instrumented functions; {len(positions)} positions in "
            f"{len({position.file for position in positions})} files "
            f"({sum(position.site.is_definition for position in positions)} on definitions)"
        )
        live = start_live_data(stack, workload.functions(), work_dir, seed=args.seed)
        print(f"Prometheus answering rate() for every function after {time.monotonic() - started:.0f} s")
        ours = ServerSpec(
            name="ours",
            command=[sys.executable, "-m", "autometrics_lsp"],
            initialization_options={
                "prometheusUrl": live.prometheus_url, "window": WINDOW, "timeout": BACKEND_TIMEOUT_SECONDS,
            },
        )
        jls = ServerSpec(name="jls", command=[str(jls_command)])
        measurement = asyncio.run(
            measure(ours, jls, workload, positions, live, work_dir, lens_rounds=args.lens_rounds,
                    py_spy=(py_spy, args.py_spy) if py_spy and args.py_spy else None)
        )
    print()
    print(report(measurement))
    print(f"\ntotal time {time.monotonic() - started:.0f} s; load average at the end {os.getloadavg()[0]:.2f}")
    return 0


async def measure(
    ours_spec: ServerSpec, jls_spec: ServerSpec, workload: Workload, positions: Sequence[HoverPosition],
    live: LiveData, work_dir: Path, *, lens_rounds: int, py_spy: tuple[Path, Path] | None,
) -> Measurement:
    """Both servers run side by side and take turns on each position (who goes first alternates), so a busy
    moment of a shared machine lands on both rather than on whichever happened to run then.
    """
    clients: dict[str, LspClient] = {}
    profiler: subprocess.Popen[bytes] | None = None
    try:
        for spec in (ours_spec, jls_spec):
            clients[spec.name] = await LspClient.start(
                spec.command, cwd=workload.root, stderr_path=work_dir / f"{spec.name}.stderr.log"
            )
        ours_client, jls_client = clients[ours_spec.name], clients[jls_spec.name]
        if py_spy:
            profiler = _start_profiler(*py_spy, pid=ours_client.pid, log_path=work_dir / "py-spy.log")
        capabilities = await ours_client.initialize(workload.root, ours_spec.initialization_options)
        await jls_client.initialize(workload.root, jls_spec.initialization_options)
        runs = {name: ServerRun(name, client.pid) for name, client in clients.items()}
        measurement = Measurement(workload.root, ours=runs[ours_spec.name], jls=runs[jls_spec.name])
        _read_memory(runs, AFTER_START)
        opened: dict[str, set[ModuleFile]] = {name: set() for name in clients}
        passes = (("1st pass", True, AFTER_FIRST_PASS), ("2nd pass", False, AFTER_ALL_HOVERS))
        for pass_name, first_pass, checkpoint in passes:
            requests_before = api_requests_served(live.prometheus_url)
            for index, position in enumerate(positions):
                turns = list(clients.items()) if index % 2 == 0 else list(reversed(clients.items()))
                for name, client in turns:
                    await _timed_hover(client, runs[name], opened[name], position, first_pass)
            measurement.api_requests[pass_name] = api_requests_served(live.prometheus_url) - requests_before
            _read_memory(runs, checkpoint)
        if profiler:
            _stop_profiler(profiler)
        if capabilities.get("codeLensProvider") and lens_rounds:
            measurement.ours.lens_rounds = await measure_lenses(ours_client, workload.lens_file, live, lens_rounds)
        for name, client in clients.items():
            runs[name].shown_messages = client.shown_messages
        return measurement
    finally:
        if profiler:
            _stop_profiler(profiler)
        await asyncio.gather(*(client.close() for client in clients.values()))


async def _timed_hover(
    client: LspClient, run: ServerRun, opened: set[ModuleFile], position: HoverPosition, first_pass: bool
) -> None:
    phase = WARM if not first_pass else FIRST_PASS if position.file in opened else COLD
    if position.file not in opened:
        client.open_document(position.file.path, position.file.path.read_text(encoding="utf-8"))
        opened.add(position.file)
    began = time.perf_counter()
    try:
        answer = await client.hover(position.file.path, position.site.line, position.site.character)
    except LspError as error:
        # A peer's bug on one position (jedi-language-server once answered a CPython `ast` SystemError)
        # must not end the run; it is counted and shown next to the latencies.
        run.outcomes[phase].errors += 1
        run.error_examples.append(f"{position.file.path.name}:{position.site.line + 1}: {error}")
        answer = None
    elapsed = time.perf_counter() - began
    run.samples[phase].append(elapsed)
    if phase == WARM:
        run.warm_by_position[position] = elapsed
    _count_outcome(run.outcomes[phase], answer)


def _read_memory(runs: Mapping[str, ServerRun], checkpoint: str) -> None:
    for run in runs.values():
        run.memory[checkpoint] = memory_mb(run.pid)


def _start_profiler(py_spy: Path, output: Path, *, pid: int, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [str(py_spy), "record", "--pid", str(pid), "--rate", "200", "--format", "raw", "--output", str(output)],
            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
        )


def _stop_profiler(profiler: subprocess.Popen[bytes]) -> None:
    """py-spy writes its output when interrupted; a second call finds it gone."""
    if profiler.poll() is None:
        os.killpg(profiler.pid, signal.SIGINT)
        try:
            profiler.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(profiler.pid, signal.SIGKILL)
            profiler.wait()


async def measure_lenses(client: LspClient, lens_file: ModuleFile, live: LiveData, rounds: int) -> list[LensRound]:
    """Time codeLens plus the resolve of every lens it returns, all resolves in flight at once as editors do."""
    client.open_document(lens_file.path, lens_file.path.read_text(encoding="utf-8"))
    results = []
    for round_index in range(rounds):
        if round_index:
            await asyncio.sleep(BACKEND_CACHE_SECONDS + 1.0)
        requests_before = api_requests_served(live.prometheus_url)
        began = time.perf_counter()
        lenses = await client.request("textDocument/codeLens", {"textDocument": {"uri": lens_file.path.as_uri()}})
        listed = time.perf_counter()
        unresolved = [lens for lens in lenses or [] if not lens.get("command")]
        await asyncio.gather(*(client.request("codeLens/resolve", lens) for lens in unresolved))
        resolved = time.perf_counter()
        results.append(
            LensRound(
                lenses=len(lenses or []),
                list_seconds=listed - began,
                total_seconds=resolved - began,
                api_requests=api_requests_served(live.prometheus_url) - requests_before,
            )
        )
    return results


def _count_outcome(outcomes: HoverOutcomes, answer: Any) -> None:
    if not answer:
        return
    outcomes.answered += 1
    text = str(answer.get("contents", ""))
    outcomes.live += LIVE_FIGURES_MARK in text
    outcomes.problems += PROBLEM_MARK in text


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024.0
    return fields["VmRSS"], fields["VmHWM"]


def report(measurement: Measurement) -> str:
    ours, jls = measurement.ours, measurement.jls
    summaries = {(run.name, phase): summarize(run.samples[phase]) for run in (ours, jls) for phase in PHASES}
    rows = []
    for phase in PHASES:
        for run in (ours, jls):
            summary, outcomes = summaries[run.name, phase], run.outcomes[phase]
            live = f"{outcomes.live}" if run is ours else "-"
            label = phase if run is ours else ""
            rows.append([label, run.name, *_summary_cells(summary), str(outcomes.answered), str(outcomes.errors), live])
        mine, theirs = summaries[ours.name, phase], summaries[jls.name, phase]
        ratios = [times(ratio(getattr(mine, key), getattr(theirs, key))) for key in ("p50", "p95", "p99", "mean")]
        rows.append(["", "ours/jls", "", *ratios, "", "", ""])
    header = ["phase", "server", "count", "p50 ms", "p95 ms", "p99 ms", "mean ms", "answered", "errors", "live"]
    memory_rows = [
        [checkpoint, *(f"{run.memory[checkpoint][index]:.0f}" for run in (ours, jls) for index in (0, 1))]
        for checkpoint in (AFTER_START, AFTER_FIRST_PASS, AFTER_ALL_HOVERS)
    ]
    problems = sum(outcomes.problems for outcomes in ours.outcomes.values())
    requests = ", ".join(f"{name} {count}" for name, count in measurement.api_requests.items())
    lines = [
        "Hover latency: client round trip, one request in flight, the two servers taking turns on each position",
        format_table(header, rows),
        "",
        f"live = hovers of ours showing live figures; {problems} of ours reported a backend problem. "
        f"Query-API requests Prometheus served (ours only queries it): {requests}",
        "",
        format_table(["memory (MB)", "ours VmRSS", "ours VmHWM", "jls VmRSS", "jls VmHWM"], memory_rows),
        "",
        *_slowest_lines(ours, jls, measurement.workspace),
        *_lens_lines(ours),
        *_verdict_lines(summaries[ours.name, WARM], summaries[jls.name, WARM], ours.memory),
    ]
    if ours.shown_messages:
        lines.append("ours showed: " + " | ".join(sorted(set(ours.shown_messages))))
    for run in (ours, jls):
        lines.extend(f"{run.name} answered an error: {example}" for example in run.error_examples[:5])
    return "\n".join(lines)


def _summary_cells(summary: Summary) -> list[str]:
    figures = (summary.p50, summary.p95, summary.p99, summary.mean)
    return [str(summary.count), *(milliseconds(value) for value in figures)]


def _slowest_lines(ours: ServerRun, jls: ServerRun, root: Path, count: int = SLOWEST_SHOWN) -> list[str]:
    slowest = sorted(ours.warm_by_position.items(), key=lambda item: -item[1])[:count]
    rows = [
        [
            f"{position.file.path.relative_to(root)}:{position.site.line + 1}:{position.site.character + 1}",
            position.site.name,
            "definition" if position.site.is_definition else "call",
            milliseconds(seconds),
            milliseconds(jls.warm_by_position.get(position, math.nan)),
        ]
        for position, seconds in slowest
    ]
    return [
        "Slowest warm hovers of ours",
        format_table(["position (line:column 1-based)", "name", "at", "ours ms", "jls ms"], rows),
        "",
    ]


def _lens_lines(ours: ServerRun) -> list[str]:
    if not ours.lens_rounds:
        return ["Code lenses: not offered by our server (no codeLensProvider) - not measured", ""]
    rows = [
        [
            str(index),
            str(one.lenses),
            milliseconds(one.list_seconds),
            milliseconds(one.total_seconds),
            str(one.api_requests),
        ]
        for index, one in enumerate(ours.lens_rounds, start=1)
    ]
    totals = summarize([one.total_seconds for one in ours.lens_rounds])
    most_requests = max(one.api_requests for one in ours.lens_rounds)
    return [
        f"Code lenses of a {ours.lens_rounds[0].lenses}-function file: codeLens, then every lens resolved "
        f"(all in flight at once); rounds {BACKEND_CACHE_SECONDS + 1:.0f} s apart, past the backend cache",
        format_table(["round", "lenses", "codeLens ms", "all resolved ms", "Prometheus requests"], rows),
        f"p95 codeLens + resolve of all lenses {milliseconds(totals.p95)} ms; at most {most_requests} requests "
        f"per round (target <= {MAX_LENS_REQUESTS}): {'PASS' if most_requests <= MAX_LENS_REQUESTS else 'MISS'}",
        "",
    ]


def _verdict_lines(ours_warm: Summary, jls_warm: Summary, memory: Mapping[str, tuple[float, float]]) -> list[str]:
    within_budget = ours_warm.p95 < WARM_P95_TARGET_SECONDS
    p95_ratio = ratio(ours_warm.p95, jls_warm.p95)
    rss_after, peak = memory[AFTER_ALL_HOVERS]
    return [
        "Targets",
        f"  warm p95 < {WARM_P95_TARGET_SECONDS * 1000:.0f} ms with live values: "
        f"{milliseconds(ours_warm.p95)} ms -> {'PASS' if within_budget else 'MISS'}",
        f"  warm p95 <= {MAX_P95_RATIO_TO_JLS}x jedi-language-server's: {times(p95_ratio)} -> "
        f"{'PASS' if p95_ratio <= MAX_P95_RATIO_TO_JLS else 'MISS'}",
        f"  RSS after all hovers < {RSS_TARGET_MB:.0f} MB: {rss_after:.0f} MB (peak {peak:.0f} MB) -> "
        f"{'PASS' if rss_after < RSS_TARGET_MB else 'MISS'}"
        f"{'; the transient peak is above the target' if peak >= RSS_TARGET_MB else ''}",
    ]


def _environment() -> str:
    cpu_lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next(
        (line.split(":", 1)[1].strip() for line in cpu_lines if line.startswith("model name")),
        platform.processor() or "unknown CPU",
    )
    return "\n".join(
        [
            f"command: {shlex.join([sys.executable, *sys.argv])}",
            f"python {platform.python_version()} ({platform.python_implementation()}) on {platform.platform()}",
            f"cpu: {cpu}, {os.cpu_count()} logical cores; load average {os.getloadavg()[0]:.2f}",
            f"autometrics-lsp {our_version}; {JLS_REQUIREMENT}",
        ]
    )


def _venv_tool(venv: Path, requirement: str, executable: str) -> Path:
    """A tool in a venv of its own (jedi-language-server pins its own pygls), installed on first use."""
    python = venv / "bin" / "python"
    distribution, _, wanted_version = requirement.partition("==")
    installed = (
        subprocess.run(
            [str(python), "-c", f"import importlib.metadata as m; print(m.version({distribution!r}))"],
            capture_output=True, text=True, check=False,
        ).stdout.strip()
        if python.exists()
        else None
    )
    if installed != wanted_version:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", requirement], check=True)
    return venv / "bin" / executable


if __name__ == "__main__":
    sys.exit(main())
