import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";

import { EXTENSION_ONLY_KEYS, pickServerSettings, serverSettingKeys } from "../src/settings";

test("server keys are the contributed autometrics.* settings minus the extension's own", () => {
  const packageJson = {
    contributes: {
      configuration: {
        properties: { "autometrics.prometheusUrl": {}, "autometrics.pythonPath": {}, "autometrics.trace.server": {}, "other.x": {} },
      },
    },
  };
  assert.deepEqual(serverSettingKeys(packageJson), ["prometheusUrl"]);
  assert.deepEqual(serverSettingKeys({}), []);
});

test("every extension-only key is really contributed by package.json", () => {
  const packageJson = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"));
  const contributed = Object.keys(packageJson.contributes.configuration.properties);
  for (const key of EXTENSION_ONLY_KEYS) {
    assert.ok(contributed.includes(`autometrics.${key}`), key);
  }
});

test("unset values are left out, so the server applies its own defaults", () => {
  const picked = pickServerSettings({ prometheusUrl: "http://p:9090", bearerToken: null, headers: {}, pythonPath: "/x" }, [
    "prometheusUrl",
    "bearerToken",
    "headers",
    "grafanaUrl",
  ]);
  assert.deepEqual(picked, { prometheusUrl: "http://p:9090", headers: {} });
  assert.deepEqual(pickServerSettings(undefined, ["prometheusUrl"]), {});
});
