/**
 * The daemon's configuration file (`--config-file`, default /etc/podvisor/daemon.json), in
 * the format of dockerd's /etc/docker/daemon.json: a JSON object whose keys are the options'
 * keys in ./options.ts (dockerd's where dockerd has the option: hosts, data-root, tlsverify,
 * log-opts...). dockerd's rules:
 *
 *  - the default file may be missing; a file named by --config-file must exist;
 *  - a key that is not an option is an error ("the following directives don't match any
 *    configuration option: ...");
 *  - a key set both in the file and by a flag is an error ("the following directives are
 *    specified both as a flag and in the configuration file: ...");
 *  - a value of the wrong JSON type is an error (Go's unmarshal message).
 *
 * Every error reads "unable to configure the Docker daemon with file F: ...", as dockerd's.
 */
import * as fs from 'node:fs';
import { InvalidArgumentError } from '../errors';
import { finishOptions, parseCommandLine } from './flags';
import { optionOfKey, type DaemonOptions, type OptionKind } from './options';
import { parseLogPolicy } from '../pod/io/log-config';
import { validateLogOpts } from '../translate/request/policy/log-config';
import { insecureTcpRefusal } from './listen';

/** Go's %v of a JSON value (for conflict messages). */
function goFormat(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(goFormat).join(' ')}]`;
  if (v && typeof v === 'object')
    return `map[${Object.entries(v)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, x]) => `${k}:${goFormat(x)}`)
      .join(' ')}]`;
  return String(v);
}

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'object' : typeof v;
}

/** The value of a file key as the strings its option's setter takes (throws on a wrong type). */
function valuesOf(key: string, kind: OptionKind, v: unknown): string[] {
  const wrong = () =>
    new Error(`json: cannot unmarshal ${jsonType(v)} into Go struct field Config.${key} of type ${kind}`);
  switch (kind) {
    case 'string':
      if (typeof v !== 'string') throw wrong();
      return [v];
    case 'bool':
      if (typeof v !== 'boolean') throw wrong();
      return [String(v)];
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v)) throw wrong();
      return [String(v)];
    case '[]string':
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw wrong();
      return v as string[];
    case 'map[string]string':
      if (!v || typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string'))
        throw wrong();
      return Object.entries(v as Record<string, string>).map(([k, x]) => `${k}=${x}`);
  }
}

/**
 * Apply a configuration file's text to options parsed from flags. `setKeys` are the keys
 * flags set (with their values). Throws Error with dockerd's message (without the prefix).
 */
export function applyConfigText(o: DaemonOptions, text: string, setKeys: Map<string, string[]>): void {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error((e as Error).message);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw new Error(`json: cannot unmarshal ${jsonType(doc)} into Go value of type map[string]interface {}`);
  const entries = Object.entries(doc as Record<string, unknown>);
  const unknown = entries
    .map(([k]) => k)
    .filter((k) => !optionOfKey(k))
    .sort();
  if (unknown.length)
    throw new Error(`the following directives don't match any configuration option: ${unknown.join(', ')}`);
  const conflicts = entries
    .filter(([k]) => setKeys.has(k))
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => {
      const def = optionOfKey(k);
      const flagValues = setKeys.get(k) ?? [];
      const fromFlag =
        def?.kind === '[]string' || def?.kind === 'map[string]string'
          ? `[${flagValues.join(' ')}]`
          : flagValues[flagValues.length - 1];
      return `${k}: (from flag: ${fromFlag}, from file: ${goFormat(v)})`;
    });
  if (conflicts.length)
    throw new Error(
      `the following directives are specified both as a flag and in the configuration file: ${conflicts.join(', ')}`,
    );
  for (const [k, v] of entries) {
    const def = optionOfKey(k);
    if (!def) continue;
    for (const s of valuesOf(k, def.kind, v)) def.apply(o, s, `--${k}`);
  }
}

/**
 * The daemon's options from argv and the configuration file, checked. Returns 'help' for
 * --help. Throws InvalidArgumentError with a message for the user.
 */
export function loadDaemonOptions(argv: string[]): DaemonOptions | 'help' {
  const cl = parseCommandLine(argv);
  if (cl === 'help') return cl;
  const o = cl.options;
  let text: string | undefined;
  try {
    text = fs.readFileSync(cl.configFile, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (cl.configFileSet || err.code !== 'ENOENT') {
      const why = err.code === 'ENOENT' ? `open ${cl.configFile}: no such file or directory` : err.message;
      throw new InvalidArgumentError(`unable to configure the Docker daemon with file ${cl.configFile}: ${why}`);
    }
  }
  if (text !== undefined) {
    try {
      applyConfigText(o, text, cl.setKeys);
    } catch (e) {
      throw new InvalidArgumentError(
        `unable to configure the Docker daemon with file ${cl.configFile}: ${(e as Error).message}`,
      );
    }
  }
  finishOptions(o);
  for (const h of o.hosts)
    if (h.startsWith('tcp://') && !o.tls && !o.insecureTcp) throw new InvalidArgumentError(insecureTcpRefusal(h));
  try {
    validateLogOpts(o.logDriver, o.logOpts);
    // Stricter than dockerd, which finds bad values only when a container starts.
    parseLogPolicy({ driver: o.logDriver, opts: o.logOpts });
  } catch (e) {
    throw new InvalidArgumentError(`failed to set log opts: ${(e as Error).message}`);
  }
  return o;
}
