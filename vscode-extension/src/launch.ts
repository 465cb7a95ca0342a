/** Deciding how to start the server: which Python, and whether the server comes from that environment or our bundle. */

export type ServerSource = "auto" | "environment" | "bundled";

export type ProbeResult =
  | { kind: "ok" }
  | { kind: "python-missing"; detail: string }
  | { kind: "server-missing"; missingModule: string; detail: string }
  | { kind: "broken"; detail: string };

export type LaunchDecision =
  | { kind: "launch"; useBundle: boolean }
  | { kind: "problem"; probe: Exclude<ProbeResult, { kind: "ok" }>; bundleTried: boolean };

/** The module whose import proves the server and all its dependencies are importable. */
export const PROBE_MODULE = "autometrics_lsp.server";

export function expandPythonPath(value: string, workspaceFolder: string | undefined, home: string): string {
  let expanded = value.trim();
  if (workspaceFolder !== undefined) {
    expanded = expanded.split("${workspaceFolder}").join(workspaceFolder);
  }
  if (expanded === "~" || expanded.startsWith("~/")) {
    expanded = home + expanded.slice(1);
  }
  return expanded;
}

/** The setting wins, then the interpreter selected in the Python extension, then `python3` from PATH. */
export function choosePython(setting: string | undefined, selectedInPythonExtension: string | undefined): string {
  if (setting !== undefined && setting.trim() !== "") {
    return setting.trim();
  }
  if (selectedInPythonExtension !== undefined && selectedInPythonExtension.trim() !== "") {
    return selectedInPythonExtension.trim();
  }
  return "python3";
}

export function parseServerSource(value: unknown): ServerSource {
  return value === "environment" || value === "bundled" ? value : "auto";
}

/** What the outcome of `python -c "import autometrics_lsp.server"` means. */
export function classifyProbe(spawnErrorCode: string | undefined, exitCode: number | null, stderr: string): ProbeResult {
  const lastLine = stderr.trim().split("\n").pop() ?? "";
  if (spawnErrorCode === "ENOENT" || spawnErrorCode === "EACCES") {
    return { kind: "python-missing", detail: spawnErrorCode === "ENOENT" ? "no such file" : "not executable" };
  }
  if (spawnErrorCode !== undefined) {
    return { kind: "broken", detail: spawnErrorCode };
  }
  if (exitCode === 0) {
    return { kind: "ok" };
  }
  const missing = /No module named '([^']+)'/.exec(stderr);
  if (missing) {
    return { kind: "server-missing", missingModule: missing[1], detail: lastLine };
  }
  return { kind: "broken", detail: lastLine || `exit code ${exitCode}` };
}

/**
 * "auto" prefers the server installed next to the user's code (it matches their versions), and falls back to the
 * bundle when that environment has none; the explicit choices never fall back, so a setting means what it says.
 */
export async function decideLaunch(
  source: ServerSource,
  probeEnvironment: () => Promise<ProbeResult>,
  probeBundle: (() => Promise<ProbeResult>) | undefined,
): Promise<LaunchDecision> {
  if (source === "bundled") {
    if (probeBundle === undefined) {
      return { kind: "problem", probe: bundleAbsent(), bundleTried: true };
    }
    const bundled = await probeBundle();
    return bundled.kind === "ok" ? { kind: "launch", useBundle: true } : { kind: "problem", probe: bundled, bundleTried: true };
  }
  const environment = await probeEnvironment();
  if (environment.kind === "ok") {
    return { kind: "launch", useBundle: false };
  }
  if (source === "auto" && environment.kind === "server-missing" && probeBundle !== undefined) {
    const bundled = await probeBundle();
    if (bundled.kind === "ok") {
      return { kind: "launch", useBundle: true };
    }
    return { kind: "problem", probe: bundled, bundleTried: true };
  }
  return { kind: "problem", probe: environment, bundleTried: false };
}

function bundleAbsent(): Exclude<ProbeResult, { kind: "ok" }> {
  return { kind: "server-missing", missingModule: "autometrics_lsp", detail: "this build of the extension has no bundled server" };
}

/** PYTHONPATH with the bundle first, so its versions win over whatever the environment has. */
export function pythonPathWithBundle(bundleDir: string, existing: string | undefined, separator: string): string {
  return existing ? `${bundleDir}${separator}${existing}` : bundleDir;
}
