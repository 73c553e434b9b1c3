/**
 * The pod spec a command sends: from a file (-f FILE: a Kubernetes Pod, a hyper podfile or
 * the native single-container spec, JSON or YAML) or from the command line (IMAGE [CMD...]
 * with --name, -e, -w, -t, -l, --network, -p).
 */
import * as fs from 'node:fs';
import { Client, CliError, EXIT } from './client';

/** A spec to send: a JSON object, or a YAML file's text (sent as application/yaml). */
export type SpecBody = Record<string, unknown> | string;

/**
 * Send a spec to `path` (POST /v1/pods or /v1/pods/{ref}/replace) with the other fields:
 * beside it in the JSON body, or as query parameters when the spec is YAML text.
 */
export function sendSpec<T>(
  c: Client,
  path: string,
  spec: SpecBody,
  fields: Record<string, string | number | boolean>,
): Promise<T> {
  if (typeof spec !== 'string') return c.json<T>('POST', path, { spec, ...fields });
  const q = new URLSearchParams(Object.entries(fields).map(([k, v]): [string, string] => [k, String(v)])).toString();
  return c.json<T>('POST', q ? `${path}?${q}` : path, spec, 'application/yaml');
}

/** The command-line options that make a spec. */
export interface SpecOptions {
  file?: string;
  name?: string;
  env?: string[];
  workdir?: string;
  tty?: boolean;
  label?: string[];
  network?: string;
  publish?: string[];
}

/** The options that a pod file sets itself (its name, its ports) and its network. */
function refuseForPodFile(o: SpecOptions): void {
  const why = o.name
    ? "--name does not apply to a pod file: set the name in the file (metadata.name, or the podfile's id)"
    : o.publish?.length
      ? '-p does not apply to a pod file: publish its ports in the file ' +
        "(ports[].hostPort, or the podfile's portmappings)"
      : o.network
        ? "--network does not apply to a pod file: a pod file's pod joins the default bridge"
        : undefined;
  if (why) throw new CliError(why, EXIT.usage);
}

/** Whether a parsed JSON spec is a pod file (Kubernetes `apiVersion`/`kind`, hyper `containers`). */
function isPodFile(v: object): boolean {
  return 'apiVersion' in v || 'kind' in v || 'containers' in v;
}

/** The spec of a pod from -f FILE or IMAGE [CMD...]. */
export function specFrom(image: string | undefined, cmd: string[], o: SpecOptions): SpecBody {
  if (o.file) {
    if (image) throw new CliError('give either -f FILE or IMAGE [CMD...], not both', EXIT.usage);
    let text: string;
    try {
      text = fs.readFileSync(o.file, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read ${o.file}: ${(err as Error).message}`, EXIT.usage);
    }
    let spec: unknown;
    try {
      spec = JSON.parse(text);
    } catch {
      // Not JSON: YAML, which the daemon reads (and names the fields it refuses).
      refuseForPodFile(o);
      return text;
    }
    if (!spec || typeof spec !== 'object' || Array.isArray(spec))
      throw new CliError(`${o.file}: a pod spec is a JSON object`, EXIT.usage);
    if (isPodFile(spec)) refuseForPodFile(o);
    const native = spec as Record<string, unknown>;
    return {
      ...native,
      ...(o.name ? { name: o.name } : {}),
      ...(o.network ? { network: o.network } : {}),
      ...(o.publish?.length ? { ports: [...(Array.isArray(native.ports) ? native.ports : []), ...o.publish] } : {}),
    };
  }
  if (!image) throw new CliError('give a pod spec file (-f FILE) or an IMAGE', EXIT.usage);
  const labels: Record<string, string> = {};
  for (const l of o.label ?? []) {
    const i = l.indexOf('=');
    labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
  }
  return {
    image,
    ...(o.name ? { name: o.name } : {}),
    ...(cmd.length ? { command: cmd } : {}),
    ...(o.env?.length ? { env: o.env } : {}),
    ...(o.workdir ? { workdir: o.workdir } : {}),
    ...(o.tty ? { tty: true } : {}),
    ...(Object.keys(labels).length ? { labels } : {}),
    ...(o.network ? { network: o.network } : {}),
    ...(o.publish?.length ? { ports: o.publish } : {}),
  };
}
