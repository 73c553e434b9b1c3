/**
 * Running a network configuration list for one sandbox: ADD, DEL and CHECK over every plugin
 * of the list, as libcni does for the kubelet and containerd.
 *
 * - ADD runs the plugins in order; each gets the previous one's result as `prevResult`, and
 *   the last one's result is the network's.
 * - DEL runs them in reverse, each with the network's result as `prevResult` (when it is
 *   known). Plugins must make DEL idempotent (the spec says so, and bridge, host-local, portmap
 *   and firewall do): a DEL of a sandbox already removed, or whose ADD never finished, succeeds.
 *   Every plugin's DEL is run even after one fails, so one failure leaves as little as it can;
 *   the first failure is then thrown.
 * - CHECK runs them in order with the network's result; it exists from spec 0.4.0 and is
 *   skipped for older lists and for lists with `disableCheck`.
 *
 * Each plugin is given the list's `name` and `cniVersion`, and a `runtimeConfig` holding the
 * runtime's values (`portMappings`, `bandwidth`) only for the capabilities its
 * `capabilities` object asks for. CNI_ARGS carries `IgnoreUnknown=1` and the pod's
 * K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID and K8S_POD_UID, as the kubelet's
 * runtimes pass them.
 */
import { InvalidArgumentError, UnavailableError } from '../../errors';
import { findPlugin } from './config';
import { execPlugin, type CniCommand } from './exec';
import { parseResult } from './result';
import type { CniConfigList, CniResult, CniSandbox } from './types';

/** The default deadline of one plugin run. */
export const DEFAULT_PLUGIN_TIMEOUT_MS = 60_000;

/** The spec's container id rule. */
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** The runtime-config values a capability name carries. */
type RuntimeValues = Record<string, unknown>;

/** Whether version `a` is at least `b` (x.y.z numbers). */
export function versionAtLeast(a: string, b: string): boolean {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

/** Runs the plugins of one network list. */
export class CniRunner {
  constructor(
    /** The directories plugins are looked for in (also CNI_PATH). */
    private readonly binDirs: string[],
    private readonly timeoutMs = DEFAULT_PLUGIN_TIMEOUT_MS,
  ) {}

  /** Attach the sandbox to the network: the last plugin's result. On a failure nothing is undone here (the caller runs del). */
  async add(list: CniConfigList, sb: CniSandbox): Promise<CniResult> {
    let prev: Record<string, unknown> | undefined;
    for (const plugin of list.plugins) {
      const doc = await this.run('ADD', list, plugin, sb, prev);
      if (doc === undefined) throw new UnavailableError(`CNI plugin ${String(plugin.type)} (ADD) returned no result`);
      prev = parseResult(doc).raw;
    }
    return parseResult(prev);
  }

  /** Detach the sandbox (idempotent); `result` is the network's ADD result when it is known. */
  async del(list: CniConfigList, sb: CniSandbox, result?: Record<string, unknown>): Promise<void> {
    let first: Error | undefined;
    for (const plugin of [...list.plugins].reverse()) {
      try {
        await this.run('DEL', list, plugin, sb, versionAtLeast(list.cniVersion, '0.4.0') ? result : undefined);
      } catch (err) {
        first ??= err as Error;
      }
    }
    if (first) throw first;
  }

  /** Check the sandbox's network is as ADD left it (spec 0.4.0 on; skipped for older lists or with disableCheck). */
  async check(list: CniConfigList, sb: CniSandbox, result: Record<string, unknown>): Promise<void> {
    if (list.disableCheck || !versionAtLeast(list.cniVersion, '0.4.0')) return;
    for (const plugin of list.plugins) await this.run('CHECK', list, plugin, sb, result);
  }

  private async run(
    command: CniCommand,
    list: CniConfigList,
    plugin: Record<string, unknown>,
    sb: CniSandbox,
    prevResult: Record<string, unknown> | undefined,
  ): Promise<unknown> {
    if (!CONTAINER_ID.test(sb.id)) throw new InvalidArgumentError(`unusable CNI container id ${JSON.stringify(sb.id)}`);
    const type = String(plugin.type);
    const bin = findPlugin(type, this.binDirs);
    if (!bin)
      throw new UnavailableError(
        `Network plugin returns error: cni plugin not initialized: no plugin ${type} in ${this.binDirs.join(':')}`,
      );
    const config: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
    delete config.runtimeConfig;
    const rc = runtimeConfig(plugin, { portMappings: sb.portMappings, bandwidth: sb.bandwidth });
    if (rc) config.runtimeConfig = rc;
    if (prevResult) config.prevResult = prevResult;
    return execPlugin({
      bin,
      command,
      containerId: sb.id,
      netns: sb.netns,
      ifName: sb.ifName ?? 'eth0',
      args: cniArgs(sb),
      path: this.binDirs,
      config,
      timeoutMs: this.timeoutMs,
    });
  }
}

/** The runtimeConfig of one plugin: the values of the capabilities it declares (none: undefined). */
function runtimeConfig(plugin: Record<string, unknown>, values: RuntimeValues): RuntimeValues | undefined {
  const caps = plugin.capabilities;
  if (!caps || typeof caps !== 'object') return undefined;
  const out: RuntimeValues = {};
  for (const [k, on] of Object.entries(caps as Record<string, unknown>))
    if (on === true && values[k] !== undefined) out[k] = values[k];
  return Object.keys(out).length ? out : undefined;
}

/** CNI_ARGS of a sandbox. Values with `;` or `=` would break the list: refused. */
function cniArgs(sb: CniSandbox): string {
  const parts = ['IgnoreUnknown=1'];
  if (sb.pod) {
    const kv: Array<[string, string]> = [
      ['K8S_POD_NAMESPACE', sb.pod.namespace],
      ['K8S_POD_NAME', sb.pod.name],
      ['K8S_POD_INFRA_CONTAINER_ID', sb.id],
      ['K8S_POD_UID', sb.pod.uid],
    ];
    for (const [k, v] of kv) {
      if (/[;=\0]/.test(v)) throw new InvalidArgumentError(`${k} ${JSON.stringify(v)} cannot be passed in CNI_ARGS`);
      parts.push(`${k}=${v}`);
    }
  }
  return parts.join(';');
}
