import { execFile } from "node:child_process";

import { classifyProbe, PROBE_MODULE, ProbeResult } from "./launch";

/** Importing the server module, not running it, tells "not installed" and "broken install" apart before any LSP traffic. */
export function probeServer(python: string, env: NodeJS.ProcessEnv, cwd: string | undefined): Promise<ProbeResult & { stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      python,
      ["-c", `import ${PROBE_MODULE}`],
      { env, cwd, timeout: 60_000, windowsHide: true },
      (error, _stdout, stderr) => {
        const spawnErrorCode = error?.killed ? "ETIMEDOUT" : error && typeof error.code === "string" ? error.code : undefined;
        const exitCode = error ? (typeof error.code === "number" ? error.code : null) : 0;
        resolve({ ...classifyProbe(spawnErrorCode, exitCode, stderr), stderr });
      },
    );
  });
}
