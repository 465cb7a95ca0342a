/** The words of every problem the user is told about: what is wrong and how to fix it, in one notification. */

import type { ProbeResult } from "./launch";

export interface Problem {
  /** Same key, same problem: it is shown once until the user restarts the server or changes settings. */
  key: string;
  message: string;
  action: "settings" | "output";
  severity: "error" | "warning";
}

export function launchProblem(
  probe: Exclude<ProbeResult, { kind: "ok" }>,
  python: string,
  bundleTried: boolean,
): Problem {
  switch (probe.kind) {
    case "python-missing":
      return {
        key: `python-missing:${python}`,
        message:
          `Autometrics: cannot run the Python interpreter "${python}" (${probe.detail}). ` +
          `Set "autometrics.pythonPath" to a Python 3.10+ interpreter, or select one with the Python extension.`,
        action: "settings",
        severity: "error",
      };
    case "server-missing": {
      const install = `"${python}" -m pip install "autometrics-lsp[server]"`;
      const alternative = bundleTried ? "" : `, or set "autometrics.serverSource" to "bundled"`;
      return {
        key: `server-missing:${python}`,
        message:
          `Autometrics: the language server is not installed for ${python} (No module named '${probe.missingModule}'). ` +
          `Install it with ${install}${alternative}.`,
        action: "settings",
        severity: "error",
      };
    }
    case "broken":
      return {
        key: `server-broken:${python}`,
        message:
          `Autometrics: the language server cannot be loaded with ${python}: ${probe.detail}. ` +
          `The output "Autometrics" has the details; reinstall it with "${python}" -m pip install -U "autometrics-lsp[server]".`,
        action: "output",
        severity: "error",
      };
  }
}

export function startupCrashProblem(python: string): Problem {
  return {
    key: `startup-crash:${python}`,
    message:
      `Autometrics: the language server exited while starting (${python} -m autometrics_lsp). ` +
      `The output "Autometrics" shows its error; fix it, then run "Autometrics: Restart Server".`,
    action: "output",
    severity: "error",
  };
}

export function repeatedCrashProblem(crashes: number, windowMinutes: number): Problem {
  return {
    key: "repeated-crash",
    message:
      `Autometrics: the language server crashed ${crashes} times in ${windowMinutes} minutes and will not be restarted. ` +
      `The output "Autometrics" shows why; run "Autometrics: Restart Server" after fixing it.`,
    action: "output",
    severity: "error",
  };
}

export function prometheusProblem(url: string, detail: string): Problem {
  return {
    key: `prometheus:${url}`,
    message:
      `Autometrics: Prometheus at ${url} does not answer (${detail}). ` +
      `Set "autometrics.prometheusUrl" to the base URL of your Prometheus-compatible server.`,
    action: "settings",
    severity: "warning",
  };
}

/** Whether a message of the server is about the configured Prometheus, which the extension reports itself. */
export function isAboutPrometheus(serverMessage: string, prometheusUrl: string): boolean {
  const url = prometheusUrl.replace(/\/+$/, "");
  return url !== "" && serverMessage.includes(url);
}

export function serverMessageProblem(message: string, severity: "error" | "warning"): Problem {
  return { key: `server:${message}`, message, action: "output", severity };
}
