/**
 * The node's CNI configuration: which network a sandbox joins and where its plugins are.
 *
 * As the kubelet and containerd do, the configuration directory (`--cni-conf-dir`, default
 * /etc/cni/net.d) is read in file-name order and the first usable file wins: a `.conflist` is
 * a list of plugins, a `.conf` or `.json` one plugin (taken as a list of one). A file that
 * cannot be parsed, or has no name or plugin, is skipped with its reason kept for the error.
 * Plugins are looked up by their `type` in the binary directories (`--cni-bin-dir`, a
 * colon-separated list as the kubelet's; our default searches /opt/cni/bin, the kubelet's,
 * then /usr/lib/cni, where Debian's containernetworking-plugins installs them).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError, UnavailableError } from '../../errors';
import type { CniConfigList } from './types';

/** The kubelet's default configuration directory. */
export const DEFAULT_CNI_CONF_DIR = '/etc/cni/net.d';
/** The kubelet's default binary directory, then Debian's. */
export const DEFAULT_CNI_BIN_DIRS = ['/opt/cni/bin', '/usr/lib/cni'];

/** The file names a configuration may have, as libcni reads them. */
const EXTENSIONS = ['.conf', '.conflist', '.json'];

/** A plugin type names a file in a binary directory: no path, nothing hidden. */
const PLUGIN_TYPE = /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/;

/** `--cni-bin-dir`'s value as a list (colon-separated; empty parts dropped). */
export function parseBinDirs(value: string): string[] {
  const dirs = value.split(':').filter((d) => d !== '');
  for (const d of dirs)
    if (!path.isAbsolute(d)) throw new InvalidArgumentError(`CNI binary directory ${d} is not an absolute path`);
  return dirs;
}

/**
 * Parse one configuration file's text (`file` names it in errors; `.conflist` reads a list, any
 * other name one plugin). Throws InvalidArgumentError saying what is wrong.
 */
export function parseConfig(text: string, file: string): CniConfigList {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`${file}: not JSON: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new InvalidArgumentError(`${file}: not an object`);
  const o = doc as Record<string, unknown>;
  const name = o.name;
  if (typeof name !== 'string' || name === '') throw new InvalidArgumentError(`${file}: no network name`);
  const cniVersion = typeof o.cniVersion === 'string' && o.cniVersion !== '' ? o.cniVersion : '0.2.0';
  let plugins: Array<Record<string, unknown>>;
  if (file.endsWith('.conflist')) {
    if (!Array.isArray(o.plugins) || o.plugins.length === 0)
      throw new InvalidArgumentError(`${file}: the list has no plugins`);
    plugins = o.plugins.map((p, i) => {
      if (!p || typeof p !== 'object' || Array.isArray(p))
        throw new InvalidArgumentError(`${file}: plugin ${i} is not an object`);
      return p as Record<string, unknown>;
    });
  } else {
    plugins = [o];
  }
  plugins.forEach((p, i) => {
    if (typeof p.type !== 'string' || !PLUGIN_TYPE.test(p.type))
      throw new InvalidArgumentError(`${file}: plugin ${i} has no usable type (${JSON.stringify(p.type)})`);
  });
  return { name, cniVersion, disableCheck: o.disableCheck === true, plugins, source: file };
}

/**
 * The network of the node: the first usable file of `confDir` by name. Throws
 * UnavailableError when there is none (containerd's words: "cni config uninitialized"), with
 * the reasons the files present were skipped.
 */
export function loadNodeNetwork(confDir: string): CniConfigList {
  let names: string[];
  try {
    names = fs.readdirSync(confDir);
  } catch (err) {
    throw new UnavailableError(
      `cni config uninitialized: cannot read ${confDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  const skipped: string[] = [];
  for (const n of names.filter((n) => EXTENSIONS.includes(path.extname(n))).sort()) {
    const file = path.join(confDir, n);
    try {
      if (!fs.statSync(file).isFile()) continue;
      return parseConfig(fs.readFileSync(file, 'utf8'), file);
    } catch (err) {
      skipped.push((err as Error).message);
    }
  }
  throw new UnavailableError(
    `cni config uninitialized: no network configuration in ${confDir}${skipped.length ? ` (skipped: ${skipped.join('; ')})` : ''}`,
  );
}

/** The path of plugin `type` in the first of `binDirs` that has it as an executable file. */
export function findPlugin(type: string, binDirs: string[]): string | undefined {
  if (!PLUGIN_TYPE.test(type)) return undefined;
  for (const dir of binDirs) {
    const p = path.join(dir, type);
    try {
      if (fs.statSync(p).isFile()) {
        fs.accessSync(p, fs.constants.X_OK);
        return p;
      }
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The plugin types of `list` that no directory of `binDirs` has. */
export function missingPlugins(list: CniConfigList, binDirs: string[]): string[] {
  const types = [...new Set(list.plugins.map((p) => String(p.type)))];
  return types.filter((t) => !findPlugin(t, binDirs));
}
