/**
 * The pod spec a command sends: from a file (-f FILE, JSON) or from the command line
 * (IMAGE [CMD...] with --name, -e, -w, -t, -l).
 */
import * as fs from 'node:fs';
import { CliError, EXIT } from './client';

/** The command-line options that make a spec. */
export interface SpecOptions {
  file?: string;
  name?: string;
  env?: string[];
  workdir?: string;
  tty?: boolean;
  label?: string[];
}

/** The spec of a pod from -f FILE or IMAGE [CMD...]. */
export function specFrom(image: string | undefined, cmd: string[], o: SpecOptions): Record<string, unknown> {
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
    } catch (err) {
      throw new CliError(`${o.file} is not valid JSON: ${(err as Error).message}`, EXIT.usage);
    }
    if (!spec || typeof spec !== 'object' || Array.isArray(spec)) throw new CliError(`${o.file}: a pod spec is a JSON object`, EXIT.usage);
    return { ...(spec as Record<string, unknown>), ...(o.name ? { name: o.name } : {}) };
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
  };
}
