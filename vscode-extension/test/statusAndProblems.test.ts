import assert from "node:assert/strict";
import { test } from "node:test";

import { isAboutPrometheus, launchProblem, prometheusProblem, repeatedCrashProblem } from "../src/problems";
import { statusView } from "../src/statusView";

test("the status bar says whether Prometheus answers once the server runs", () => {
  assert.equal(statusView("running", { kind: "up", url: "http://p", elapsedMs: 3 }).text, "$(pulse) Prometheus: up");
  const down = statusView("running", { kind: "down", url: "http://p", detail: "ECONNREFUSED" });
  assert.equal(down.text, "$(warning) Prometheus: down");
  assert.equal(down.severity, "warning");
  assert.match(down.tooltip, /http:\/\/p.*ECONNREFUSED/);
});

test("a stopped server outranks the Prometheus state", () => {
  const view = statusView("failed", { kind: "up", url: "http://p", elapsedMs: 3 });
  assert.equal(view.severity, "error");
  assert.match(view.text, /server stopped/);
});

test("each problem message says how to fix it", () => {
  const missing = launchProblem({ kind: "server-missing", missingModule: "autometrics_lsp", detail: "" }, "/usr/bin/python3", false);
  assert.match(missing.message, /"\/usr\/bin\/python3" -m pip install "autometrics-lsp\[server\]"/);
  assert.match(missing.message, /autometrics\.serverSource/);
  const missingAfterBundle = launchProblem({ kind: "server-missing", missingModule: "pygls", detail: "" }, "py", true);
  assert.doesNotMatch(missingAfterBundle.message, /serverSource/);
  assert.match(launchProblem({ kind: "python-missing", detail: "no such file" }, "/nope", false).message, /autometrics\.pythonPath/);
  assert.match(prometheusProblem("http://p:1", "ECONNREFUSED").message, /autometrics\.prometheusUrl/);
  assert.match(repeatedCrashProblem(4, 3).message, /Restart Server/);
});

test("problems with different subjects get different keys, so each is shown once", () => {
  assert.notEqual(prometheusProblem("http://a", "x").key, prometheusProblem("http://b", "x").key);
  assert.equal(prometheusProblem("http://a", "x").key, prometheusProblem("http://a", "y").key);
});

test("a server message naming the configured Prometheus is about Prometheus", () => {
  assert.equal(isAboutPrometheus("autometrics: Prometheus at http://127.0.0.1:9/x refused the connection", "http://127.0.0.1:9/x/"), true);
  assert.equal(isAboutPrometheus("autometrics: unknown setting \"windw\" ignored", "http://127.0.0.1:9"), false);
  assert.equal(isAboutPrometheus("anything", ""), false);
});
