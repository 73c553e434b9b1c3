/**
 * Running one CNI plugin once, as the spec's protocol says: the command and the sandbox in
 * CNI_* environment variables, the network configuration on stdin, the result (or a JSON
 * error) on stdout, a non-zero exit on failure. The run has a deadline (the process is killed
 * at it) and bounded output; a failure becomes a CniPluginError that says which plugin failed
 * on which command, with the plugin's own code and message (`{"code":..,"msg":..,"details":..}`)
 * or, when it wrote none, its exit status and stderr.
 */
import { spawn } from 'node:child_process';
import { UnavailableError } from '../../errors';

/** The spec's commands. */
export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

/** What one plugin run needs. */
export interface PluginRun {
  /** The plugin's binary. */
  bin: string;
  command: CniCommand;
  containerId: string;
  netns: string;
  ifName: string;
  /** CNI_ARGS: `K=V;K=V`. */
  args: string;
  /** CNI_PATH: the directories plugins look for delegates in (host-local for bridge). */
  path: string[];
  /** The configuration object written to stdin. */
  config: Record<string, unknown>;
  timeoutMs: number;
}

/** Most bytes of stdout or stderr read from a plugin. */
const MAX_OUTPUT = 1024 * 1024;

/** A plugin that failed: the spec's error fields when it wrote them. */
export class CniPluginError extends UnavailableError {
  constructor(
    message: string,
    /** The spec's error code (1-99 are the spec's, 100+ the plugin's own); absent when it wrote no JSON error. */
    readonly code?: number,
    /** The plugin's `msg`. */
    readonly msg?: string,
    /** The plugin's `details`. */
    readonly details?: string,
  ) {
    super(message);
  }
}

/** The spec's well-known error codes, for messages. */
const CODE_NAMES: Record<number, string> = {
  1: 'incompatible CNI version',
  2: 'unsupported field in the network configuration',
  3: 'container unknown or does not exist',
  4: 'invalid necessary environment variables',
  5: 'I/O failure',
  6: 'failed to decode content',
  7: 'invalid network config',
  11: 'try again later',
  50: 'the plugin is not available',
  51: 'the plugin is not available (limited connectivity)',
};

/** The environment of a run: ours (plugins run iptables, ip...) without any CNI_ variable, then the run's. */
function environment(r: PluginRun): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CNI_')) env[k] = v;
  env.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return {
    ...env,
    CNI_COMMAND: r.command,
    CNI_CONTAINERID: r.containerId,
    CNI_NETNS: r.netns,
    CNI_IFNAME: r.ifName,
    CNI_ARGS: r.args,
    CNI_PATH: r.path.join(':'),
  };
}

/**
 * Run the plugin; resolves its stdout parsed as JSON (undefined when it wrote nothing, as DEL
 * and CHECK do). Rejects with CniPluginError.
 */
export function execPlugin(r: PluginRun): Promise<unknown> {
  const what = `CNI plugin ${r.bin} (${r.command})`;
  return new Promise((resolve, reject) => {
    const child = spawn(r.bin, [], { env: environment(r), stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, r.timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      if (outLen < MAX_OUTPUT) out.push(b);
      outLen += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errLen < MAX_OUTPUT) err.push(b);
      errLen += b.length;
    });
    child.stdin.on('error', () => undefined); // a plugin that exits without reading its config
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CniPluginError(`${what}: cannot run it: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8').trim();
      const stderr = Buffer.concat(err).toString('utf8').trim().slice(-2000);
      if (timedOut) return reject(new CniPluginError(`${what}: no answer within ${r.timeoutMs} ms (killed)`));
      if (outLen > MAX_OUTPUT) return reject(new CniPluginError(`${what}: more than ${MAX_OUTPUT} bytes of output`));
      let doc: unknown;
      if (stdout !== '') {
        try {
          doc = JSON.parse(stdout);
        } catch {
          doc = undefined;
        }
      }
      if (code === 0 && signal === null) {
        if (stdout !== '' && doc === undefined)
          return reject(new CniPluginError(`${what}: its output is not JSON: ${stdout.slice(0, 200)}`));
        return resolve(doc);
      }
      const e = doc as { code?: unknown; msg?: unknown; details?: unknown } | undefined;
      if (e && typeof e === 'object' && typeof e.code === 'number') {
        const msg = typeof e.msg === 'string' ? e.msg : '';
        const details = typeof e.details === 'string' && e.details !== '' ? e.details : undefined;
        const name = CODE_NAMES[e.code];
        return reject(
          new CniPluginError(
            `${what} failed: ${msg || name || 'no message'}${details ? `: ${details}` : ''} (code ${e.code}${name && msg ? `: ${name}` : ''})`,
            e.code,
            msg,
            details,
          ),
        );
      }
      const status = signal ? `killed by ${signal}` : `exit status ${code}`;
      reject(new CniPluginError(`${what} failed (${status})${stderr || stdout ? `: ${stderr || stdout}` : ''}`));
    });
    child.stdin.end(JSON.stringify(r.config));
  });
}
