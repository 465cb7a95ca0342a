/** What the status bar item says for each state of the server and of Prometheus. */

export type ServerState = "starting" | "running" | "stopped" | "failed";
export type PrometheusState =
  | { kind: "unknown" }
  | { kind: "up"; url: string; elapsedMs: number }
  | { kind: "down"; url: string; detail: string };

export interface StatusView {
  text: string;
  tooltip: string;
  severity: "normal" | "warning" | "error";
}

export function statusView(server: ServerState, prometheus: PrometheusState): StatusView {
  if (server === "failed" || server === "stopped") {
    return {
      text: "$(error) Autometrics: server stopped",
      tooltip: "The autometrics language server is not running. Click to see its output.",
      severity: "error",
    };
  }
  if (server === "starting") {
    return { text: "$(sync~spin) Autometrics", tooltip: "The autometrics language server is starting.", severity: "normal" };
  }
  switch (prometheus.kind) {
    case "unknown":
      return { text: "$(pulse) Prometheus: ?", tooltip: "Asking Prometheus…", severity: "normal" };
    case "up":
      return {
        text: "$(pulse) Prometheus: up",
        tooltip: `Prometheus at ${prometheus.url} answered in ${prometheus.elapsedMs} ms. Click to see the autometrics output.`,
        severity: "normal",
      };
    case "down":
      return {
        text: "$(warning) Prometheus: down",
        tooltip: `Prometheus at ${prometheus.url} does not answer: ${prometheus.detail}. Check "autometrics.prometheusUrl".`,
        severity: "warning",
      };
  }
}
