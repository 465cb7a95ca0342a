import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import * as vscode from "vscode";
import {
  CloseAction,
  CloseHandlerResult,
  DidChangeConfigurationNotification,
  ErrorAction,
  ErrorHandlerResult,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  MessageType,
  RevealOutputChannelOn,
  ServerOptions,
  ShowMessageNotification,
  ShowMessageParams,
  State,
} from "vscode-languageclient/node";

import { choosePython, decideLaunch, expandPythonPath, parseServerSource, pythonPathWithBundle } from "./launch";
import { probeServer } from "./probe";
import {
  isAboutPrometheus,
  launchProblem,
  Problem,
  prometheusProblem,
  repeatedCrashProblem,
  serverMessageProblem,
  startupCrashProblem,
} from "./problems";
import { parseServerStatus, ping, PingRequest, PingResult, pingRequest, sameUrl, ServerStatus } from "./prometheus";
import { onInterpreterChanged, selectedInterpreter } from "./pythonExtension";
import { RestartBudget } from "./restartBudget";
import { pickServerSettings, SECTION, serverSettingKeys } from "./settings";
import { PrometheusState, ServerState, statusView } from "./statusView";

const MAX_RESTARTS = 3;
const RESTART_WINDOW_MINUTES = 3;
const STATUS_POLL_MS = 30_000;

const SERVER_COMMAND_OPEN_CHART = "autometrics.server.openChart";
const SERVER_COMMAND_REFRESH = "autometrics.server.refresh";
const SERVER_COMMAND_STATUS = "autometrics.server.status";

/** Shows each problem once (until reset) and always writes it to the output, so a recurring failure never spams. */
class Notifier {
  private readonly shown = new Set<string>();

  constructor(private readonly output: vscode.LogOutputChannel) {}

  show(problem: Problem): void {
    if (problem.severity === "error") {
      this.output.error(problem.message);
    } else {
      this.output.warn(problem.message);
    }
    if (this.shown.has(problem.key)) {
      return;
    }
    this.shown.add(problem.key);
    const fix = problem.action === "settings" ? "Open Settings" : "Show Output";
    const show = problem.severity === "error" ? vscode.window.showErrorMessage : vscode.window.showWarningMessage;
    void show(problem.message, fix).then((choice) => {
      if (choice === "Open Settings") {
        void vscode.commands.executeCommand("workbench.action.openSettings", SECTION);
      } else if (choice === "Show Output") {
        this.output.show(true);
      }
    });
  }

  forget(keyPrefix: string): void {
    for (const key of [...this.shown]) {
      if (key.startsWith(keyPrefix)) {
        this.shown.delete(key);
      }
    }
  }

  reset(): void {
    this.shown.clear();
  }
}

/** The library's own failure notifications would duplicate ours; it still logs everything to the output channel. */
class QuietLanguageClient extends LanguageClient {
  override error(message: string, data?: unknown): void {
    super.error(message, data, false);
  }
}

class StatusBar {
  private readonly item = vscode.window.createStatusBarItem("autometrics.status", vscode.StatusBarAlignment.Left, 0);
  private server: ServerState = "stopped";
  private prometheus: PrometheusState = { kind: "unknown" };

  constructor() {
    this.item.name = "Autometrics";
    this.item.command = "autometrics.showOutput";
    this.render();
    this.item.show();
  }

  setServer(state: ServerState): void {
    this.server = state;
    this.render();
  }

  setPrometheus(state: PrometheusState): void {
    this.prometheus = state;
    this.render();
  }

  private render(): void {
    const view = statusView(this.server, this.prometheus);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor =
      view.severity === "normal" ? undefined : new vscode.ThemeColor(`statusBarItem.${view.severity}Background`);
  }

  dispose(): void {
    this.item.dispose();
  }
}

function currentServerSettings(keys: readonly string[]): Record<string, unknown> {
  const section = vscode.workspace.getConfiguration(SECTION);
  const values: Record<string, unknown> = {};
  for (const key of keys) {
    values[key] = section.get(key);
  }
  return pickServerSettings(values, keys);
}

class ServerController implements vscode.Disposable {
  private client: QuietLanguageClient | undefined;
  private reachedRunning = false;
  private readonly restartBudget = new RestartBudget(MAX_RESTARTS, RESTART_WINDOW_MINUTES * 60_000);
  private python = "python3";
  private starting: Promise<void> | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly output: vscode.LogOutputChannel,
    private readonly notifier: Notifier,
    private readonly statusBar: StatusBar,
    private readonly serverKeys: readonly string[],
    private readonly prometheus: PrometheusWatch,
  ) {}

  get runningClient(): QuietLanguageClient | undefined {
    return this.client?.state === State.Running ? this.client : undefined;
  }

  start(): Promise<void> {
    this.starting ??= this.launch().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  async restart(): Promise<void> {
    await this.starting;
    this.notifier.reset();
    this.restartBudget.reset();
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) {
      try {
        await client.dispose(2000);
      } catch (error) {
        this.output.warn(`Stopping the server: ${String(error)}`);
      }
    }
    this.statusBar.setServer("stopped");
  }

  dispose(): void {
    void this.stop();
  }

  /**
   * Pushes the server's settings after a change. Not the library's `synchronize.configurationSection`: that sends
   * the whole section, so the server would see (and warn about) the extension's own keys.
   */
  async pushSettings(): Promise<void> {
    const client = this.runningClient;
    if (client !== undefined) {
      await client.sendNotification(DidChangeConfigurationNotification.type, {
        settings: { [SECTION]: currentServerSettings(this.serverKeys) },
      });
    }
  }

  /** The server's own view of its backend, when it runs and offers one; it uses exactly the server's settings. */
  async backendStatus(): Promise<ServerStatus | undefined> {
    const client = this.runningClient;
    if (client === undefined || !serverHasCommand(client, SERVER_COMMAND_STATUS)) {
      return undefined;
    }
    try {
      const answer = await client.sendRequest(ExecuteCommandRequest.type, { command: SERVER_COMMAND_STATUS, arguments: [] });
      return parseServerStatus(answer);
    } catch (error) {
      this.output.warn(`${SERVER_COMMAND_STATUS} failed: ${String(error)}`);
      return undefined;
    }
  }

  private async launch(): Promise<void> {
    this.statusBar.setServer("starting");
    const configuration = vscode.workspace.getConfiguration(SECTION);
    const folder = vscode.workspace.workspaceFolders?.[0];
    const cwd = folder?.uri.scheme === "file" ? folder.uri.fsPath : undefined;
    const setting = configuration.get<string>("pythonPath");
    const selected = setting ? undefined : await selectedInterpreter(folder?.uri, this.output);
    this.python = expandPythonPath(choosePython(setting, selected), cwd, os.homedir());
    const origin = setting ? "setting autometrics.pythonPath" : selected ? "the Python extension" : "default";
    this.output.info(`Python interpreter: ${this.python} (from ${origin})`);

    const bundleDir = path.join(this.context.extensionPath, "bundled", "libs");
    const bundleEnv = {
      ...process.env,
      PYTHONPATH: pythonPathWithBundle(bundleDir, process.env.PYTHONPATH, path.delimiter),
    };
    const bundled = fs.existsSync(path.join(bundleDir, "autometrics_lsp"));
    const probeAndLog = async (env: NodeJS.ProcessEnv, label: string) => {
      const result = await probeServer(this.python, env, cwd);
      if (result.kind !== "ok") {
        this.output.warn(`The ${label} server cannot be imported (${result.kind}):\n${result.stderr.trim()}`);
      }
      return result;
    };
    const decision = await decideLaunch(
      parseServerSource(configuration.get("serverSource")),
      () => probeAndLog(process.env, "installed"),
      bundled ? () => probeAndLog(bundleEnv, "bundled") : undefined,
    );
    if (decision.kind === "problem") {
      this.statusBar.setServer("failed");
      this.notifier.show(launchProblem(decision.probe, this.python, decision.bundleTried));
      return;
    }
    this.output.info(`Starting ${this.python} -m autometrics_lsp (${decision.useBundle ? "bundled server" : "installed server"})`);
    const serverOptions: ServerOptions = {
      command: this.python,
      args: ["-m", "autometrics_lsp"],
      options: { env: decision.useBundle ? bundleEnv : process.env, cwd },
    };
    const client = new QuietLanguageClient("autometrics", "Autometrics", serverOptions, this.clientOptions());
    this.client = client;
    // Replaces the library's handler, which would show every message as a notification of its own.
    client.onNotification(ShowMessageNotification.type, (message) => this.onServerMessage(message));
    this.reachedRunning = false;
    client.onDidChangeState((change) => {
      if (this.client !== client) {
        return;
      }
      if (change.newState === State.Running) {
        this.reachedRunning = true;
        this.statusBar.setServer("running");
      } else if (change.newState === State.Stopped) {
        this.statusBar.setServer("stopped");
      }
    });
    try {
      await client.start();
    } catch (error) {
      this.output.error(`The server did not start: ${String(error)}`);
      if (this.client === client) {
        this.statusBar.setServer("failed");
        this.notifier.show(startupCrashProblem(this.python));
      }
    }
  }

  private clientOptions(): LanguageClientOptions {
    return {
      documentSelector: [
        { scheme: "file", language: "python" },
        { scheme: "untitled", language: "python" },
      ],
      initializationOptions: currentServerSettings(this.serverKeys),
      outputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationFailedHandler: () => false,
      errorHandler: {
        error: (): ErrorHandlerResult => ({ action: ErrorAction.Continue, handled: true }),
        closed: (): CloseHandlerResult => this.onServerClosed(),
      },
      middleware: {
        window: {
          // Charts open in the browser; the link stays in the output too, for browsers or proxies that mangle it.
          showDocument: async (params, token, next) => {
            this.output.info(`Opening ${params.uri}`);
            return next(params, token);
          },
        },
        workspace: {
          // The server asks for the whole section; it should see only its own keys, not how it was launched.
          configuration: async (params, token, next) => {
            const answers = await next(params, token);
            if (!Array.isArray(answers)) {
              return answers;
            }
            return answers.map((answer, index) =>
              params.items[index]?.section === SECTION ? currentServerSettings(this.serverKeys) : answer,
            );
          },
        },
      },
    };
  }

  /**
   * The server reports an unreachable Prometheus too, when a hover needs it. The extension's report of the same
   * problem says how to fix it, so the server's is folded into that one: one problem, one notification.
   */
  private onServerMessage(message: ShowMessageParams): void {
    const prometheusUrl = pingRequest(currentServerSettings(this.serverKeys)).baseUrl;
    const severity = message.type === MessageType.Error ? "error" : "warning";
    if (message.type !== MessageType.Error && message.type !== MessageType.Warning) {
      this.output.info(message.message);
      void vscode.window.showInformationMessage(message.message);
    } else if (isAboutPrometheus(message.message, prometheusUrl)) {
      this.output.warn(message.message);
      void this.prometheus.confirm(serverMessageProblem(message.message, severity));
    } else {
      this.notifier.show(serverMessageProblem(message.message, severity));
    }
  }

  private onServerClosed(): CloseHandlerResult {
    if (!this.reachedRunning) {
      // A server that dies before answering `initialize` dies the same way on every restart; start() reports it.
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    if (this.restartBudget.allowRestartAfterCrash(Date.now())) {
      this.output.warn(`The server stopped unexpectedly; restarting it (${this.restartBudget.recentCrashes} of ${MAX_RESTARTS}).`);
      return { action: CloseAction.Restart, handled: true };
    }
    this.statusBar.setServer("failed");
    this.notifier.show(repeatedCrashProblem(this.restartBudget.recentCrashes, RESTART_WINDOW_MINUTES));
    return { action: CloseAction.DoNotRestart, handled: true };
  }
}

class PrometheusWatch implements vscode.Disposable {
  private timer: NodeJS.Timeout | undefined;
  private generation = 0;
  private serverStatus: () => Promise<ServerStatus | undefined> = async () => undefined;
  private lastTarget: string | undefined;

  constructor(
    private readonly notifier: Notifier,
    private readonly statusBar: StatusBar,
    private readonly serverKeys: readonly string[],
  ) {}

  /** Asks the running server first; the extension's own ping covers servers without a status command. */
  start(serverStatus: () => Promise<ServerStatus | undefined>): void {
    this.serverStatus = serverStatus;
    this.lastTarget = connectionOf(pingRequest(currentServerSettings(this.serverKeys)));
    void this.check();
    this.timer = setInterval(() => void this.check(), STATUS_POLL_MS);
  }

  /** After a change of where or how Prometheus is asked, the old verdict is void: forget it, so a still-wrong
   * URL is reported again. Other settings changes (and repeated events for the same values) keep it: the user
   * has been told once already. */
  async settingsChanged(): Promise<void> {
    const target = connectionOf(pingRequest(currentServerSettings(this.serverKeys)));
    if (target !== this.lastTarget) {
      this.lastTarget = target;
      this.notifier.forget("prometheus:");
      this.statusBar.setPrometheus({ kind: "unknown" });
    }
    await this.check();
  }

  /** Answers whether Prometheus answers; tells the user once per URL when it does not. */
  async check(): Promise<boolean> {
    const generation = ++this.generation;
    const started = Date.now();
    const request = pingRequest(currentServerSettings(this.serverKeys));
    // A server still reading its settings answers for its default URL: then only our own ping tells the truth.
    const fromServer = await this.serverStatus().then((status) =>
      status !== undefined && sameUrl(status.prometheusUrl, request.baseUrl) ? status : undefined,
    );
    let result: PingResult;
    if (fromServer === undefined) {
      result = await ping(request);
    } else if (fromServer.reachable) {
      result = { ok: true, elapsedMs: Date.now() - started };
    } else {
      result = { ok: false, detail: fromServer.problem ?? "no answer" };
    }
    const url = request.baseUrl;
    if (generation === this.generation) {
      if (result.ok) {
        this.statusBar.setPrometheus({ kind: "up", url, elapsedMs: result.elapsedMs });
        this.notifier.forget(`prometheus:${url}`);
      } else {
        this.statusBar.setPrometheus({ kind: "down", url, detail: result.detail });
        this.notifier.show(prometheusProblem(url, result.detail));
      }
    }
    return result.ok;
  }

  /** The server had trouble with Prometheus: if a ping fails too, that is the one report; else the server's counts. */
  async confirm(serverProblem: Problem): Promise<void> {
    if (await this.check()) {
      this.notifier.show(serverProblem);
    }
  }

  dispose(): void {
    clearInterval(this.timer);
  }
}

/** Everything that decides whether a ping can succeed, as one comparable string. */
function connectionOf(request: PingRequest): string {
  return JSON.stringify([request.url.toString(), request.headers, request.rejectUnauthorized, request.caFile, request.timeoutMs]);
}

let controller: ServerController | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("Autometrics", { log: true });
  const notifier = new Notifier(output);
  const statusBar = new StatusBar();
  const serverKeys = serverSettingKeys(context.extension.packageJSON);
  const prometheus = new PrometheusWatch(notifier, statusBar, serverKeys);
  controller = new ServerController(context, output, notifier, statusBar, serverKeys, prometheus);
  const server = controller;
  context.subscriptions.push(output, statusBar, server, prometheus);

  context.subscriptions.push(
    vscode.commands.registerCommand("autometrics.openChart", () => openChart(server)),
    vscode.commands.registerCommand("autometrics.refresh", async () => {
      const client = server.runningClient;
      if (client !== undefined && serverHasCommand(client, SERVER_COMMAND_REFRESH)) {
        await client.sendRequest(ExecuteCommandRequest.type, { command: SERVER_COMMAND_REFRESH, arguments: [] });
      }
      await prometheus.check();
    }),
    vscode.commands.registerCommand("autometrics.restartServer", async () => {
      await server.restart();
      await prometheus.settingsChanged();
    }),
    vscode.commands.registerCommand("autometrics.showOutput", () => output.show(true)),
    vscode.workspace.onDidChangeConfiguration(async (change) => {
      if (change.affectsConfiguration(`${SECTION}.pythonPath`) || change.affectsConfiguration(`${SECTION}.serverSource`)) {
        await server.restart();
      } else if (change.affectsConfiguration(SECTION)) {
        await server.pushSettings();
      }
      if (change.affectsConfiguration(SECTION)) {
        await prometheus.settingsChanged();
      }
    }),
  );
  const interpreterWatch = await onInterpreterChanged(() => {
    if (!vscode.workspace.getConfiguration(SECTION).get<string>("pythonPath")) {
      void server.restart();
    }
  });
  if (interpreterWatch !== undefined) {
    context.subscriptions.push(interpreterWatch);
  }

  const started = server.start();
  prometheus.start(() => server.backendStatus());
  await started;
}

export async function deactivate(): Promise<void> {
  await controller?.stop();
}

function serverHasCommand(client: LanguageClient, command: string): boolean {
  return client.initializeResult?.capabilities.executeCommandProvider?.commands.includes(command) ?? false;
}

async function openChart(server: ServerController): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (editor === undefined || editor.document.languageId !== "python") {
    void vscode.window.showInformationMessage("Autometrics: put the cursor on a Python function or a call of one first.");
    return;
  }
  const client = server.runningClient;
  if (client === undefined) {
    void vscode.window.showWarningMessage('Autometrics: the language server is not running; see "Autometrics: Show Output".');
    return;
  }
  if (!serverHasCommand(client, SERVER_COMMAND_OPEN_CHART)) {
    void vscode.window.showWarningMessage("Autometrics: this version of the language server cannot open charts.");
    return;
  }
  const position = editor.selection.active;
  try {
    // The server answers with window/showDocument (external), which the client opens in the browser.
    await client.sendRequest(ExecuteCommandRequest.type, {
      command: SERVER_COMMAND_OPEN_CHART,
      arguments: [{ uri: editor.document.uri.toString(), position: { line: position.line, character: position.character } }],
    });
  } catch (error) {
    void vscode.window.showErrorMessage(`Autometrics: cannot open the chart: ${error instanceof Error ? error.message : String(error)}`);
  }
}
