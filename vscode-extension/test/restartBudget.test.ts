import assert from "node:assert/strict";
import { test } from "node:test";

import { RestartBudget } from "../src/restartBudget";

test("restarts stop after the budget of crashes inside the window", () => {
  const budget = new RestartBudget(3, 60_000);
  assert.equal(budget.allowRestartAfterCrash(0), true);
  assert.equal(budget.allowRestartAfterCrash(1_000), true);
  assert.equal(budget.allowRestartAfterCrash(2_000), true);
  assert.equal(budget.allowRestartAfterCrash(3_000), false);
  assert.equal(budget.recentCrashes, 4);
});

test("crashes older than the window are forgotten", () => {
  const budget = new RestartBudget(2, 60_000);
  budget.allowRestartAfterCrash(0);
  budget.allowRestartAfterCrash(1_000);
  assert.equal(budget.allowRestartAfterCrash(61_500), true);
  assert.equal(budget.recentCrashes, 1);
});

test("reset gives the whole budget back", () => {
  const budget = new RestartBudget(1, 60_000);
  budget.allowRestartAfterCrash(0);
  assert.equal(budget.allowRestartAfterCrash(1), false);
  budget.reset();
  assert.equal(budget.allowRestartAfterCrash(2), true);
});
