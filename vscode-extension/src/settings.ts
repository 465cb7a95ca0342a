/** Which of the `autometrics.*` settings belong to the language server, and their values as the server reads them. */

export const SECTION = "autometrics";

/** Settings only this extension reads (how to start the server); the server never sees them. */
export const EXTENSION_ONLY_KEYS: readonly string[] = ["pythonPath", "serverSource", "trace.server"];

interface ContributedConfiguration {
  contributes?: { configuration?: { properties?: Record<string, unknown> } };
}

/** The server's keys, read from package.json so the contributed settings stay the one list to maintain. */
export function serverSettingKeys(packageJson: ContributedConfiguration): string[] {
  const properties = packageJson.contributes?.configuration?.properties ?? {};
  const prefix = `${SECTION}.`;
  return Object.keys(properties)
    .filter((name) => name.startsWith(prefix))
    .map((name) => name.slice(prefix.length))
    .filter((key) => !EXTENSION_ONLY_KEYS.includes(key));
}

/**
 * The server's part of the section, without unset values: a missing key means "server default" on the wire,
 * whereas `null` would have to be validated by the server.
 */
export function pickServerSettings(
  section: Readonly<Record<string, unknown>> | null | undefined,
  keys: readonly string[],
): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const key of keys) {
    const value = section?.[key];
    if (value !== undefined && value !== null) {
      picked[key] = value;
    }
  }
  return picked;
}
