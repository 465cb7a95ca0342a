// Drives a running code-server in headless Chromium, as a person would: open a folder, open a file from the
// Explorer, put the cursor on a symbol, ask for the hover, read code lenses, the status bar and notifications.
// Usage: node drive.mjs PLAN.json  ->  prints one JSON object (the observations) on stdout.
// Each of the plan's sessions runs in a browser window of its own, `windowsAtOnce` of them at a time; each is a
// new VS Code window with its own extension host. The test (test_vscode.py) decides what the observations must say.
import fs from "node:fs";

import puppeteer from "puppeteer-core";

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-dev-shm-usage",
  // The chart opens in a new window from a language server's answer, not from a click the browser saw.
  "--disable-popup-blocking",
];
const POLL_MS = 250;
const VIEWPORT = { width: 1280, height: 800 };

const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, timeoutMs, probe) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(POLL_MS);
  }
}

async function openFromExplorer(page, pathParts, timeoutMs) {
  for (const [index, name] of pathParts.entries()) {
    const row = `.explorer-folders-view .monaco-list-row[aria-level="${index + 1}"][aria-label="${name}"]`;
    await page.waitForSelector(row, { timeout: timeoutMs });
    const expanded = await page.$eval(row, (element) => element.getAttribute("aria-expanded"));
    if (expanded !== "true") {
      await page.click(row);
    }
  }
  const fileName = pathParts.at(-1);
  await until(`an editor tab for ${fileName}`, timeoutMs, () =>
    page.$(`.tabs-container .tab.active[aria-label^="${fileName}"]`),
  );
  await page.waitForSelector(".editor-instance .monaco-editor .view-lines", { timeout: timeoutMs });
}

async function goTo(page, line, column) {
  await page.click(".editor-instance .monaco-editor .view-lines");
  await page.keyboard.down("Control");
  await page.keyboard.press("KeyG");
  await page.keyboard.up("Control");
  await page.waitForSelector(".quick-input-widget input", { visible: true });
  await page.keyboard.type(`${line}:${column}`);
  await page.keyboard.press("Enter");
  await page.waitForSelector(".quick-input-widget", { hidden: true });
}

async function hoverText(page) {
  return page.$$eval(".monaco-hover:not(.hidden) .monaco-hover-content", (elements) =>
    elements.map((element) => element.innerText).join("\n").trim(),
  );
}

/** Asks for the hover until its text matches: the server may still be starting, or Prometheus still filling. */
async function showHover(page, pattern, timeoutMs) {
  const wanted = new RegExp(pattern);
  let last = "";
  await until(`a hover matching /${pattern}/ (last hover: ${JSON.stringify(last)})`, timeoutMs, async () => {
    await page.keyboard.press("Escape");
    await page.keyboard.down("Control");
    await page.keyboard.press("KeyK");
    await page.keyboard.press("KeyI");
    await page.keyboard.up("Control");
    const shownBy = Date.now() + 3000;
    while (Date.now() < shownBy) {
      last = await hoverText(page);
      if (wanted.test(last)) {
        return true;
      }
      await sleep(POLL_MS);
    }
    return false;
  });
  return last;
}

async function lensTexts(page) {
  return page.$$eval(".editor-instance .codelens-decoration", (elements) =>
    elements.map((element) => element.innerText.trim()).filter((text) => text !== ""),
  );
}

async function statusBarText(page) {
  return page.$$eval(".statusbar-item", (elements) =>
    elements.map((element) => element.innerText.trim()).find((text) => /Prometheus|Autometrics/.test(text)) ?? null,
  );
}

/**
 * Every notification of the window, read from the notification center: toasts hide after a while or on Escape,
 * the center keeps them all.
 */
async function openNotificationCenter(page) {
  await page.click(".statusbar-item[id='status.notifications']");
  await page.waitForSelector(".notifications-center", { visible: true });
}

async function notificationCenterTexts(page) {
  return page.$$eval(".notifications-center .notification-list-item-message", (elements) =>
    elements.map((element) => element.innerText.trim()),
  );
}

async function runCommand(page, label, timeoutMs) {
  await page.keyboard.down("Control");
  await page.keyboard.down("Shift");
  await page.keyboard.press("KeyP");
  await page.keyboard.up("Shift");
  await page.keyboard.up("Control");
  await page.waitForSelector(".quick-input-widget input", { visible: true });
  await page.keyboard.type(label);
  await until(`the command "${label}"`, timeoutMs, () =>
    page.$$eval(".quick-input-list .monaco-list-row", (rows, wanted) => rows.some((row) => row.innerText.includes(wanted)), label),
  );
  await page.keyboard.press("Enter");
}

/** The output panel's text, once it shows `pattern` (a line may reach the channel a moment after the panel
 * opens); if it never does, the text as it is then, for the test to report. */
async function outputPanelText(page, showOutputCommand, timeoutMs, pattern) {
  await runCommand(page, showOutputCommand, timeoutMs);
  const wanted = pattern ? new RegExp(pattern) : null;
  const panelText = () =>
    page.$$eval(".part.panel .monaco-editor .view-lines", (elements) =>
      elements.map((element) => element.innerText.replaceAll("\u00a0", " ")).join("\n").trim(),
    );
  try {
    return await until(`the output panel${wanted ? ` showing ${pattern}` : ""}`, timeoutMs, async () => {
      const text = await panelText();
      return text && (!wanted || wanted.test(text)) ? text : null;
    });
  } catch {
    return panelText();
  }
}

/** Runs the chart command and returns the URLs of the browser windows it opened, which it then closes. */
async function openedWindows(page, chartCommand, timeoutMs) {
  const popup = new Promise((resolve) => page.once("popup", resolve));
  await runCommand(page, chartCommand, timeoutMs);
  const urls = await until("a window opened by the chart command", timeoutMs, () =>
    page.evaluate(() => (window.openedUrls.length > 0 ? window.openedUrls : null)),
  );
  // The new window took the focus; the workbench gets it back, or it would ignore the keyboard.
  await (await popup)?.close();
  await page.bringToFront();
  return urls;
}

async function runSession(browser, session) {
  const observed = { name: session.name, timings: {} };
  const started = Date.now();
  const mark = (what) => (observed.timings[what] = Date.now() - started);
  // A window of its own, not a tab: a background tab gets no animation frames, and VS Code renders in them.
  const page = await browser.newPage({ type: "window", windowBounds: { left: 0, top: 0, ...VIEWPORT } });
  await page.setViewport(VIEWPORT);
  // What the workbench opens in new windows (deep links to charts), as it asked the browser.
  await page.evaluateOnNewDocument(() => {
    window.openedUrls = [];
    const open = window.open;
    window.open = function (url, ...rest) {
      window.openedUrls.push(String(url));
      return open.call(window, url, ...rest);
    };
  });
  try {
    await page.goto(`${plan.baseUrl}/?folder=${encodeURIComponent(session.folder)}`);
    await page.waitForSelector(".monaco-workbench", { timeout: session.timeoutMs });
    mark("workbench");
    await openFromExplorer(page, session.file, session.timeoutMs);
    mark("fileOpen");
    if (session.hover) {
      await goTo(page, session.hover.line, session.hover.column);
      observed.hover = await showHover(page, session.hover.pattern, session.timeoutMs);
      mark("hover");
      if (session.screenshot) {
        await page.screenshot({ path: session.screenshot });
      }
      await page.keyboard.press("Escape");
      if (session.chartCommand) {
        observed.openedWindows = await openedWindows(page, session.chartCommand, session.timeoutMs);
        mark("chart");
      }
    }
    if (session.lensPattern) {
      const wanted = new RegExp(session.lensPattern);
      observed.lenses = await until(`code lenses matching /${session.lensPattern}/`, session.timeoutMs, async () => {
        const texts = await lensTexts(page);
        return texts.some((text) => wanted.test(text)) ? texts : null;
      }).catch(async (error) => {
        observed.lensError = error.message;
        return lensTexts(page);
      });
      mark("lenses");
    }
    if (session.statusPattern) {
      const wanted = new RegExp(session.statusPattern);
      observed.status = await until(`a status bar item matching /${session.statusPattern}/`, session.timeoutMs, async () => {
        const text = await statusBarText(page);
        return text !== null && wanted.test(text) ? text : null;
      }).catch(async (error) => {
        observed.statusError = error.message;
        return statusBarText(page);
      });
      mark("status");
    }
    if (session.notificationPatterns) {
      const patterns = session.notificationPatterns.map((pattern) => new RegExp(pattern));
      await openNotificationCenter(page);
      await until("the expected notifications", session.timeoutMs, async () => {
        const texts = await notificationCenterTexts(page);
        return patterns.every((pattern) => texts.some((text) => pattern.test(text)));
      }).catch((error) => (observed.notificationError = error.message));
      mark("notifications");
      // Whatever would repeat (a restart loop, a second report of the same problem) has time to show up.
      await sleep(session.settleMs ?? 0);
      observed.notifications = await notificationCenterTexts(page);
      await page.keyboard.press("Escape");
    }
    if (session.showOutputCommand) {
      observed.output = await outputPanelText(page, session.showOutputCommand, session.timeoutMs, session.outputPattern);
    }
    if (session.commandAtEnd) {
      await runCommand(page, session.commandAtEnd, session.timeoutMs);
      await sleep(session.settleMs ?? 0);
      await openNotificationCenter(page);
      observed.notificationsAtEnd = await notificationCenterTexts(page);
      await page.keyboard.press("Escape");
      mark("commandAtEnd");
    }
    if (session.settingsChange) {
      // As a person editing settings.json: the change must reach the running server without a restart.
      const { file, values, hoverPattern } = session.settingsChange;
      const settings = JSON.parse(fs.readFileSync(file, "utf8"));
      fs.writeFileSync(file, JSON.stringify({ ...settings, ...values }, null, 2));
      await goTo(page, session.hover.line, session.hover.column);
      observed.hoverAfterSettingsChange = await showHover(page, hoverPattern, session.timeoutMs);
      mark("settingsChange");
    }
    if (session.finalScreenshot) {
      await page.screenshot({ path: session.finalScreenshot });
    }
  } catch (error) {
    observed.error = error.message;
    observed.status ??= await statusBarText(page).catch(() => null);
    observed.notifications ??= await notificationCenterTexts(page).catch(() => []);
    if (session.failureScreenshot) {
      await page.screenshot({ path: session.failureScreenshot }).catch(() => undefined);
    }
  } finally {
    mark("total");
    await page.close();
  }
  return observed;
}

const browser = await puppeteer.launch({
  executablePath: plan.chromium,
  headless: true,
  args: CHROMIUM_ARGS,
  defaultViewport: VIEWPORT,
});
try {
  // Windows are independent (one extension host each): up to `windowsAtOnce` run side by side, in plan order.
  const sessions = new Array(plan.sessions.length);
  let next = 0;
  const worker = async () => {
    while (next < plan.sessions.length) {
      const index = next++;
      sessions[index] = await runSession(browser, plan.sessions[index]);
    }
  };
  await Promise.all(Array.from({ length: plan.windowsAtOnce ?? 1 }, worker));
  process.stdout.write(JSON.stringify({ sessions }));
} finally {
  await browser.close();
}
