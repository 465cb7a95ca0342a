import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";

import { DEFAULT_PROMETHEUS_URL, parseServerStatus, ping, pingRequest, sameUrl } from "../src/prometheus";

test("the ping is an instant query below the base URL, path prefix kept", () => {
  const request = pingRequest({ prometheusUrl: "https://mimir.example/prometheus/" });
  assert.equal(request.url.toString(), "https://mimir.example/prometheus/api/v1/query?query=1");
  assert.equal(request.baseUrl, "https://mimir.example/prometheus/");
  assert.equal(pingRequest({}).baseUrl, DEFAULT_PROMETHEUS_URL);
});

test("the ping carries the server's credentials and headers", () => {
  const bearer = pingRequest({ bearerToken: "t0k", headers: { "X-Scope-OrgID": "team-a", bad: 3 } });
  assert.deepEqual(bearer.headers, { "X-Scope-OrgID": "team-a", Authorization: "Bearer t0k" });
  const basic = pingRequest({ basicAuth: { username: "u", password: "p" } });
  assert.equal(basic.headers.Authorization, `Basic ${Buffer.from("u:p").toString("base64")}`);
});

test("tlsVerify: false disables verification, a string is a CA bundle", () => {
  assert.equal(pingRequest({ tlsVerify: false }).rejectUnauthorized, false);
  const withCa = pingRequest({ tlsVerify: "/etc/ca.pem" });
  assert.equal(withCa.rejectUnauthorized, true);
  assert.equal(withCa.caFile, "/etc/ca.pem");
});

async function withServer(status: number, run: (baseUrl: string, seen: http.IncomingMessage[]) => Promise<void>): Promise<void> {
  const seen: http.IncomingMessage[] = [];
  const server = http.createServer((request, response) => {
    seen.push(request);
    response.writeHead(status, { "Content-Type": "application/json" });
    response.end('{"status":"success","data":{"resultType":"scalar","result":[0,"1"]}}');
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

test("a server answering 200 is up, and receives the query with the headers", async () => {
  await withServer(200, async (baseUrl, seen) => {
    const result = await ping(pingRequest({ prometheusUrl: baseUrl, headers: { "X-Scope-OrgID": "team-a" } }));
    assert.equal(result.ok, true);
    assert.equal(seen[0].url, "/api/v1/query?query=1");
    assert.equal(seen[0].headers["x-scope-orgid"], "team-a");
  });
});

test("an HTTP error status is down, with the status in the detail", async () => {
  await withServer(401, async (baseUrl) => {
    assert.deepEqual(await ping(pingRequest({ prometheusUrl: baseUrl })), { ok: false, detail: "HTTP 401 from /api/v1/query" });
  });
});

test("a closed port is down, with the connection error in the detail", async () => {
  let closedPort = 0;
  await withServer(200, async (baseUrl) => {
    closedPort = Number(new URL(baseUrl).port);
  });
  const result = await ping(pingRequest({ prometheusUrl: `http://127.0.0.1:${closedPort}` }));
  assert.equal(result.ok, false);
  assert.match(result.ok ? "" : result.detail, /ECONNREFUSED/);
});

test("an unreadable CA bundle is reported, not thrown", async () => {
  const result = await ping(pingRequest({ prometheusUrl: "https://127.0.0.1:1", tlsVerify: "/nonexistent/ca.pem" }));
  assert.equal(result.ok, false);
  assert.match(result.ok ? "" : result.detail, /cannot read the CA bundle/);
});

test("the server's status answer is read, anything else is not", () => {
  assert.deepEqual(parseServerStatus({ prometheusUrl: "http://p", reachable: false, problem: "refused" }), {
    prometheusUrl: "http://p",
    reachable: false,
    problem: "refused",
  });
  assert.deepEqual(parseServerStatus({ prometheusUrl: "http://p", reachable: true }), {
    prometheusUrl: "http://p",
    reachable: true,
    problem: null,
  });
  assert.equal(parseServerStatus(null), undefined);
  assert.equal(parseServerStatus({ reachable: "yes" }), undefined);
});

test("URLs differing only in trailing slashes are the same Prometheus", () => {
  assert.equal(sameUrl("http://p:9090/", "http://p:9090"), true);
  assert.equal(sameUrl("http://localhost:9090", "http://127.0.0.1:9090"), false);
});
