import assert from "node:assert/strict";
import { test } from "node:test";

import { choosePython, classifyProbe, decideLaunch, expandPythonPath, parseServerSource, ProbeResult, pythonPathWithBundle } from "../src/launch";

const ok: ProbeResult = { kind: "ok" };
const notInstalled: ProbeResult = { kind: "server-missing", missingModule: "autometrics_lsp", detail: "" };
const broken: ProbeResult = { kind: "broken", detail: "SyntaxError" };
const noPython: ProbeResult = { kind: "python-missing", detail: "no such file" };

test("the setting wins over the Python extension, which wins over python3", () => {
  assert.equal(choosePython("/opt/py/bin/python", "/venv/bin/python"), "/opt/py/bin/python");
  assert.equal(choosePython("  ", "/venv/bin/python"), "/venv/bin/python");
  assert.equal(choosePython(undefined, undefined), "python3");
});

test("pythonPath expands ${workspaceFolder} and ~", () => {
  assert.equal(expandPythonPath("${workspaceFolder}/.venv/bin/python", "/ws", "/home/u"), "/ws/.venv/bin/python");
  assert.equal(expandPythonPath("~/py/bin/python", undefined, "/home/u"), "/home/u/py/bin/python");
  assert.equal(expandPythonPath("python3", "/ws", "/home/u"), "python3");
});

test("unknown server sources read as auto", () => {
  assert.equal(parseServerSource("bundled"), "bundled");
  assert.equal(parseServerSource("environment"), "environment");
  assert.equal(parseServerSource("somewhere"), "auto");
  assert.equal(parseServerSource(undefined), "auto");
});

test("a probe tells a missing Python, a missing module and a broken install apart", () => {
  assert.deepEqual(classifyProbe("ENOENT", null, ""), { kind: "python-missing", detail: "no such file" });
  assert.deepEqual(classifyProbe(undefined, 0, ""), { kind: "ok" });
  assert.deepEqual(
    classifyProbe(undefined, 1, "Traceback (most recent call last):\nModuleNotFoundError: No module named 'pygls'\n"),
    { kind: "server-missing", missingModule: "pygls", detail: "ModuleNotFoundError: No module named 'pygls'" },
  );
  assert.deepEqual(classifyProbe(undefined, 1, "  x\nSyntaxError: invalid syntax\n"), { kind: "broken", detail: "SyntaxError: invalid syntax" });
  assert.deepEqual(classifyProbe("ETIMEDOUT", null, ""), { kind: "broken", detail: "ETIMEDOUT" });
});

test("auto uses the environment's server when it has one, and never probes the bundle then", async () => {
  const decision = await decideLaunch("auto", async () => ok, async () => assert.fail("bundle probed"));
  assert.deepEqual(decision, { kind: "launch", useBundle: false });
});

test("auto falls back to the bundle only when the environment has no server", async () => {
  assert.deepEqual(await decideLaunch("auto", async () => notInstalled, async () => ok), { kind: "launch", useBundle: true });
  assert.deepEqual(await decideLaunch("auto", async () => broken, async () => ok), { kind: "problem", probe: broken, bundleTried: false });
  assert.deepEqual(await decideLaunch("auto", async () => noPython, async () => ok), { kind: "problem", probe: noPython, bundleTried: false });
  assert.deepEqual(await decideLaunch("auto", async () => notInstalled, undefined), { kind: "problem", probe: notInstalled, bundleTried: false });
  assert.deepEqual(await decideLaunch("auto", async () => notInstalled, async () => broken), { kind: "problem", probe: broken, bundleTried: true });
});

test("explicit sources never fall back", async () => {
  assert.deepEqual(await decideLaunch("environment", async () => notInstalled, async () => ok), {
    kind: "problem",
    probe: notInstalled,
    bundleTried: false,
  });
  assert.deepEqual(await decideLaunch("bundled", async () => assert.fail("environment probed"), async () => ok), {
    kind: "launch",
    useBundle: true,
  });
  const withoutBundle = await decideLaunch("bundled", async () => ok, undefined);
  assert.equal(withoutBundle.kind, "problem");
});

test("the bundle goes first on PYTHONPATH", () => {
  assert.equal(pythonPathWithBundle("/ext/bundled/libs", undefined, ":"), "/ext/bundled/libs");
  assert.equal(pythonPathWithBundle("/ext/bundled/libs", "/mine", ":"), "/ext/bundled/libs:/mine");
});
