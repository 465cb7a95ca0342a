/** Does the configured Prometheus answer? Asked with the same URL, credentials and time budget the server uses. */

import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";

export const DEFAULT_PROMETHEUS_URL = "http://localhost:9090";

export interface PingRequest {
  baseUrl: string;
  url: URL;
  headers: Record<string, string>;
  rejectUnauthorized: boolean;
  caFile: string | undefined;
  timeoutMs: number;
}

export type PingResult = { ok: true; elapsedMs: number } | { ok: false; detail: string };

export interface ServerStatus {
  prometheusUrl: string;
  reachable: boolean;
  problem: string | null;
}

/** The answer of the server's `autometrics.server.status` command, or undefined when it is not one. */
export function parseServerStatus(answer: unknown): ServerStatus | undefined {
  if (!isRecord(answer) || typeof answer.prometheusUrl !== "string" || typeof answer.reachable !== "boolean") {
    return undefined;
  }
  return {
    prometheusUrl: answer.prometheusUrl,
    reachable: answer.reachable,
    problem: typeof answer.problem === "string" ? answer.problem : null,
  };
}

/**
 * A trivial instant query rather than `/-/ready`: every Prometheus-compatible API the server talks to
 * (Prometheus, VictoriaMetrics, Thanos, Mimir behind a path prefix) serves the query endpoint, not all serve `/-/ready`.
 */
export function pingRequest(settings: Readonly<Record<string, unknown>>): PingRequest {
  const baseUrl = typeof settings.prometheusUrl === "string" && settings.prometheusUrl.trim() !== ""
    ? settings.prometheusUrl.trim()
    : DEFAULT_PROMETHEUS_URL;
  const url = new URL(`${baseUrl.replace(/\/+$/, "")}/api/v1/query`);
  url.searchParams.set("query", "1");

  const headers: Record<string, string> = {};
  if (isRecord(settings.headers)) {
    for (const [name, value] of Object.entries(settings.headers)) {
      if (typeof value === "string") {
        headers[name] = value;
      }
    }
  }
  if (typeof settings.bearerToken === "string" && settings.bearerToken !== "") {
    headers.Authorization = `Bearer ${settings.bearerToken}`;
  } else if (isRecord(settings.basicAuth) && typeof settings.basicAuth.username === "string") {
    const password = typeof settings.basicAuth.password === "string" ? settings.basicAuth.password : "";
    headers.Authorization = `Basic ${Buffer.from(`${settings.basicAuth.username}:${password}`).toString("base64")}`;
  }

  const tlsVerify = settings.tlsVerify;
  const timeoutSeconds = typeof settings.timeout === "number" && settings.timeout > 0 ? settings.timeout : 1;
  return {
    baseUrl,
    url,
    headers,
    rejectUnauthorized: tlsVerify !== false,
    caFile: typeof tlsVerify === "string" && tlsVerify !== "" ? tlsVerify : undefined,
    // A ping is one cheap query, but the first TLS handshake may cost more than a warm request of the server.
    timeoutMs: Math.max(2000, timeoutSeconds * 1000),
  };
}

export function sameUrl(left: string, right: string): boolean {
  return left.trim().replace(/\/+$/, "") === right.trim().replace(/\/+$/, "");
}

export function ping(request: PingRequest): Promise<PingResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    let ca: Buffer | undefined;
    try {
      ca = request.caFile === undefined ? undefined : fs.readFileSync(request.caFile);
    } catch (error) {
      resolve({ ok: false, detail: `cannot read the CA bundle ${request.caFile}: ${describe(error)}` });
      return;
    }
    const transport = request.url.protocol === "https:" ? https : http;
    const outgoing = transport.get(
      request.url,
      { headers: request.headers, timeout: request.timeoutMs, rejectUnauthorized: request.rejectUnauthorized, ca },
      (response) => {
        response.resume();
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          resolve({ ok: true, elapsedMs: Date.now() - started });
        } else {
          resolve({ ok: false, detail: `HTTP ${status} from ${request.url.pathname}` });
        }
      },
    );
    outgoing.on("timeout", () => outgoing.destroy(new Error(`no answer within ${request.timeoutMs} ms`)));
    outgoing.on("error", (error) => resolve({ ok: false, detail: describe(error) }));
  });
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
