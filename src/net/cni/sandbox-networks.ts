/**
 * The pod network of CRI sandboxes, the Kubernetes way: what the CRI runtime service calls.
 *
 * Life of a sandbox's network:
 *   networkReady()                      -> Status's NetworkReady condition
 *   setUp({id, pod, portMappings}, vm?) -> a network namespace of ours, the node's CNI network
 *                                          ADDed in it: {netns, ip, mac, result, ...}; with the
 *                                          VM's NIC, attachVm's work too, its tap moved into the
 *                                          namespace while the plugins run
 *   attachVm(id, {tap, guestName, agent}) -> the VM's tap joined to the CNI interface (tc
 *                                          redirect) and the guest given its MAC, addresses, routes
 *   check(id)                           -> CNI CHECK
 *   tearDown(id)                        -> CNI DEL, the namespace removed (idempotent; also what
 *                                          a failed setUp does before it throws)
 *   sweep(keep)                         -> at daemon start: tear down every sandbox network
 *                                          left by a killed daemon that the caller does not keep
 *
 * Each sandbox has a directory `<stateDir>/<id>/` holding its namespace file (./netns.ts) and
 * `network.json`: the configuration list, binary directories and request the ADD ran with, and
 * its result once it succeeded. The record is written before the namespace is made and before
 * ADD runs, so a daemon killed at any point leaves a DEL that can be run with exactly what the
 * ADD had, even if the node's configuration changed since (as libcni's result cache does).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError, NotFoundError, UnavailableError } from '../../errors';
import { logger } from '../../util/log';
import type { Agent } from '../../vm/types';
import { DEFAULT_CNI_BIN_DIRS, DEFAULT_CNI_CONF_DIR, loadNodeNetwork, missingPlugins } from './config';
import { configureGuest, planGuestNetwork, type GuestNetwork } from './guest';
import { createNetns, listNetnsDirs, netnsHeld, netnsPath, removeNetns } from './netns';
import { parseResult } from './result';
import { CniRunner, DEFAULT_PLUGIN_TIMEOUT_MS } from './runner';
import { linkFacts, moveTapInto, redirectTap, type LinkFacts } from './tap-redirect';
import { ToolError } from '../run';
import { settleAll } from '../../util/settle';
import { lapper, type Laps } from './laps';
import { netnsLinkCounters } from './link-stats';
import type { InterfaceCounters } from '../tap-stats';
import type { CniBandwidth, CniConfigList, CniPortMapping, CniResult, CniSandbox } from './types';

const log = logger('cni');

/** The interface CNI makes in every sandbox namespace. */
export const SANDBOX_IFNAME = 'eth0';

/** Where the daemon of exec root `execRoot` keeps its sandbox networks. */
export function cniStateDir(execRoot: string): string {
  return path.join(execRoot, 'cni');
}

/** How the daemon finds the node's CNI set-up. */
export interface CniOptions {
  /** `--cni-conf-dir` (default /etc/cni/net.d). */
  confDir?: string;
  /** `--cni-bin-dir` as a list (default /opt/cni/bin, then /usr/lib/cni). */
  binDirs?: string[];
  /** This daemon's sandbox network state (cniStateDir(execRoot)). */
  stateDir: string;
  /** Deadline of one plugin run (default 60 s). */
  pluginTimeoutMs?: number;
}

/** The CRI NetworkReady condition. */
export interface NetworkCondition {
  ready: boolean;
  /** When not ready: "NetworkPluginNotReady", as containerd says. */
  reason?: string;
  message?: string;
}

/** What a sandbox asks of the network. */
export interface SandboxNetworkRequest {
  /** The sandbox id (CNI_CONTAINERID; also its directory name): letters, digits, `_.-`. */
  id: string;
  /** The pod, for CNI_ARGS. */
  pod?: { namespace: string; name: string; uid: string };
  /** Published ports (the portmap plugin's runtimeConfig). */
  portMappings?: CniPortMapping[];
  bandwidth?: CniBandwidth;
}

/** A sandbox's network once set up. */
export interface SandboxNetwork {
  id: string;
  /** Path of its network namespace. */
  netns: string;
  /** The CNI network's name. */
  network: string;
  /** The interface CNI made in the namespace (eth0). */
  ifName: string;
  /** The pod's primary IP (the first IPv4, else the first IPv6; no prefix): PodSandboxStatus's ip. */
  ip?: string;
  /** Its other addresses (PodSandboxStatus's additional_ips), no prefix. */
  additionalIps: string[];
  /** The CNI interface's MAC and MTU: what the guest takes. */
  mac: string;
  mtu: number;
  result: CniResult;
}

/** The VM NIC a sandbox's network is joined to: its host tap, its guest name, the VM's agent. */
export interface SandboxVmNic {
  tap: string;
  guestName: string;
  agent: Agent;
}

/** network.json. */
interface Record {
  id: string;
  ifName: string;
  config: CniConfigList;
  binDirs: string[];
  request: SandboxNetworkRequest;
  /** The ADD result as the last plugin wrote it, once ADD succeeded. */
  result?: { [k: string]: unknown };
  /** The tap moved into its namespace (joined to it once a VM was attached). */
  tap?: string;
}

/** The CNI pod network of one daemon (see the module comment). */
export class CniNetworks {
  readonly confDir: string;
  readonly binDirs: string[];
  private readonly stateDir: string;
  private readonly runner: CniRunner;
  private readonly timeoutMs: number;
  /** Per-sandbox operations run one at a time. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(opts: CniOptions) {
    this.confDir = opts.confDir ?? DEFAULT_CNI_CONF_DIR;
    this.binDirs = opts.binDirs ?? DEFAULT_CNI_BIN_DIRS;
    this.stateDir = opts.stateDir;
    this.timeoutMs = opts.pluginTimeoutMs ?? DEFAULT_PLUGIN_TIMEOUT_MS;
    this.runner = new CniRunner(this.binDirs, this.timeoutMs);
  }

  /** NetworkReady: a configuration exists in the directory, and every plugin it names is found. */
  networkReady(): NetworkCondition {
    try {
      const list = loadNodeNetwork(this.confDir);
      const missing = missingPlugins(list, this.binDirs);
      if (missing.length)
        return notReady(
          `${list.source} names plugins that are not in ${this.binDirs.join(':')}: ${missing.join(', ')}`,
        );
      return { ready: true };
    } catch (err) {
      return notReady((err as Error).message);
    }
  }

  /**
   * Make the sandbox's namespace and ADD the node's network in it; with `vm`, join that VM's NIC
   * to it as attachVm does. What does not wait for another step runs beside it:
   *  - the tap's move into the namespace beside the plugins (a namespace change waits out the
   *    kernel's RCU grace periods: ~20 ms that need not come after the ADD's);
   *  - the guest's interface configured beside the tap's redirects, both once the interface
   *    CNI made is known.
   * On any failure the ADD's part is undone (DEL, the namespace removed) and the error is
   * thrown: UnavailableError with the plugin's message, or, without a configuration,
   * containerd's "cni plugin not initialized".
   */
  async setUp(req: SandboxNetworkRequest, vm?: SandboxVmNic): Promise<SandboxNetwork> {
    checkSandboxId(req.id);
    return this.serial(req.id, async () => {
      const ready = this.networkReady();
      if (!ready.ready) throw new UnavailableError(ready.message!);
      const config = loadNodeNetwork(this.confDir);
      const rec: Record = { id: req.id, ifName: SANDBOX_IFNAME, config, binDirs: this.binDirs, request: req };
      const laps = lapper();
      this.writeRecord(rec);
      try {
        await createNetns(this.stateDir, req.id);
        laps.lap('namespace');
        const added = this.runner.add(config, this.cniSandbox(rec)).then(async (result) => {
          // Recorded at once: an undo's DEL needs the ADD's result (the firewall plugin finds
          // its rules by the address in it).
          rec.result = result.raw;
          this.writeRecord(rec);
          return { result, link: await this.readLink(rec) };
        });
        const [{ result, link }] = await settleAll([
          laps.leg('plugins', added),
          vm && laps.leg('tap move', this.moveTap(rec, vm)),
        ] as const);
        laps.lap(vm ? 'plugins beside the tap move' : 'plugins');
        if (vm) {
          await this.joinVm(rec, vm, link, laps);
          laps.lap('tap redirected beside the guest NIC');
        }
        log.debug(`sandbox ${req.id.slice(0, 12)}: network set up (${laps.summary()})`);
        return await this.describe(rec, result, link);
      } catch (err) {
        // DEL of a configuration that could not ADD may fail the same way (bridge does): the
        // namespace (and what a plugin made in it) and the record go anyway.
        await this.tearDownNow(req.id, true).catch((e: Error) =>
          log.warn(`sandbox ${req.id}: undoing a failed network set-up: ${e.message}`),
        );
        throw err;
      }
    });
  }

  /**
   * Join VM NIC `tap` (booted by src/vm, in the host's namespace) to the sandbox's CNI
   * interface, and give the guest's `guestName` the interface's MAC, MTU, addresses and routes.
   */
  async attachVm(id: string, vm: SandboxVmNic): Promise<GuestNetwork> {
    checkSandboxId(id);
    return this.serial(id, async () => {
      const rec = this.record(id);
      if (!rec?.result) throw new NotFoundError(`sandbox ${id} has no network set up`);
      // A tap the record holds is in the namespace already (a retried join).
      if (rec.tap !== vm.tap) await this.moveTap(rec, vm);
      return this.joinVm(rec, vm, await this.readLink(rec));
    });
  }

  /** The VM's tap moved from the host's namespace into the sandbox's, and recorded there. */
  private async moveTap(rec: Record, vm: SandboxVmNic): Promise<void> {
    await moveTapInto(netnsPath(this.stateDir, rec.id), vm.tap).catch((err: Error) => {
      throw this.joinFailure(rec, vm, err);
    });
    rec.tap = vm.tap;
    this.writeRecord(rec);
  }

  /** The tap (in the namespace) redirected to the interface `link` describes, beside the guest's configuration. */
  private async joinVm(rec: Record, vm: SandboxVmNic, link: LinkFacts, laps?: Laps): Promise<GuestNetwork> {
    const guest = planGuestNetwork(parseResult(rec.result!), rec.ifName, vm.guestName, link);
    const redirected = redirectTap(netnsPath(this.stateDir, rec.id), vm.tap, rec.ifName, link.mtu).catch(
      (err: Error) => {
        throw this.joinFailure(rec, vm, err);
      },
    );
    const configured = configureGuest(vm.agent, guest);
    await settleAll([
      laps ? laps.leg('tap redirect', redirected) : redirected,
      laps ? laps.leg('guest NIC', configured) : configured,
    ]);
    return guest;
  }

  private joinFailure(rec: Record, vm: SandboxVmNic, err: Error): UnavailableError {
    const why = err instanceof ToolError ? err.detail : err.message;
    return new UnavailableError(
      `the VM's tap ${vm.tap} could not be joined to ${rec.ifName} of the CNI network ${rec.config.name} (${rec.config.source}): ${why}`,
    );
  }

  /**
   * The counters of the sandbox's CNI interface (eth0) in its namespace, the pod's point of view
   * (./link-stats.ts); undefined without a network set up.
   */
  async counters(id: string): Promise<{ ifName: string; counters: InterfaceCounters } | undefined> {
    const rec = this.record(id);
    if (!rec?.result) return undefined;
    const counters = await netnsLinkCounters(netnsPath(this.stateDir, rec.id), rec.ifName);
    return counters && { ifName: rec.ifName, counters };
  }

  /** The sandbox's network as set up (read from its record: also after a daemon restart). */
  async get(id: string): Promise<SandboxNetwork | undefined> {
    const rec = this.record(id);
    if (!rec?.result) return undefined;
    return this.describe(rec, parseResult(rec.result));
  }

  /** CNI CHECK of the sandbox's network (throws what the plugin said). */
  async check(id: string): Promise<void> {
    checkSandboxId(id);
    return this.serial(id, async () => {
      const rec = this.record(id);
      if (!rec?.result) throw new NotFoundError(`sandbox ${id} has no network set up`);
      await this.runner.check(rec.config, this.cniSandbox(rec), rec.result);
    });
  }

  /**
   * CNI DEL with what the ADD ran with, then the namespace and record removed. Idempotent: a
   * sandbox without a network (never set up, or torn down already) is fine. When DEL fails the
   * record and namespace stay, so the next tearDown (or sweep) tries again, and the error is thrown.
   */
  async tearDown(id: string): Promise<void> {
    checkSandboxId(id);
    return this.serial(id, () => this.tearDownNow(id));
  }

  /** Ids of the sandboxes that have network state here. */
  list(): string[] {
    return listNetnsDirs(this.stateDir);
  }

  /**
   * Tear down every sandbox network for which `keep(id)` is false (a killed daemon's
   * leftovers, at start). Resolves the ids torn down; one failing is logged, not thrown.
   */
  async sweep(keep: (id: string) => boolean): Promise<string[]> {
    const gone: string[] = [];
    for (const id of this.list()) {
      if (keep(id)) continue;
      try {
        await this.tearDown(id);
        gone.push(id);
      } catch (err) {
        log.warn(`sandbox ${id}: removing its network left by an earlier daemon: ${(err as Error).message}`);
      }
    }
    return gone;
  }

  /** DEL and removal; with `force`, the namespace and record go even when DEL fails (then thrown). */
  private async tearDownNow(id: string, force = false): Promise<void> {
    const rec = this.record(id);
    let failed: Error | undefined;
    if (rec) {
      const sb = this.cniSandbox(rec);
      // A namespace that is gone already (a removal that got as far as unmounting it): DEL runs
      // without CNI_NETNS, as the spec has it and containerd does for a closed namespace, so the
      // plugins still release what they hold on the host (the address, the rules). Given the
      // path of a plain file, bridge's DEL fails instead ("unknown FS magic").
      if (!netnsHeld(this.stateDir, id)) {
        log.warn(`sandbox ${id}: its network namespace is gone before its DEL; the DEL runs without it`);
        sb.netns = '';
      }
      await new CniRunner(rec.binDirs, this.timeoutMs)
        .del(rec.config, sb, rec.result)
        .catch((err: Error) => (failed = err));
    }
    if (failed && !force) throw failed;
    // The DEL is done: its record goes first, so that a removal of the namespace that fails
    // leaves the namespace to remove again, not a DEL to run again.
    fs.rmSync(this.recordPath(id), { force: true });
    await removeNetns(this.stateDir, id);
    if (failed) throw failed;
  }

  private cniSandbox(rec: Record): CniSandbox {
    return {
      id: rec.id,
      netns: netnsPath(this.stateDir, rec.id),
      ifName: rec.ifName,
      ...(rec.request.pod ? { pod: rec.request.pod } : {}),
      ...(rec.request.portMappings ? { portMappings: rec.request.portMappings } : {}),
      ...(rec.request.bandwidth ? { bandwidth: rec.request.bandwidth } : {}),
    };
  }

  /** The network as set up; the interface's MAC and MTU read from its namespace unless `known`. */
  private async describe(rec: Record, result: CniResult, known?: LinkFacts): Promise<SandboxNetwork> {
    const netns = netnsPath(this.stateDir, rec.id);
    const link = known ?? (await this.readLink(rec));
    const addrs = result.ips.map((ip) => ip.address.split('/')[0]);
    const primary = addrs.find((a) => !a.includes(':')) ?? addrs[0];
    return {
      id: rec.id,
      netns,
      network: rec.config.name,
      ifName: rec.ifName,
      ...(primary ? { ip: primary } : {}),
      additionalIps: addrs.filter((a) => a !== primary),
      mac: link.mac,
      mtu: link.mtu,
      result,
    };
  }

  /** MAC and MTU of the interface CNI made in the sandbox's namespace, or why it is not usable. */
  private async readLink(rec: Record): Promise<LinkFacts> {
    return linkFacts(netnsPath(this.stateDir, rec.id), rec.ifName).catch((err: Error) => {
      throw new UnavailableError(
        `the CNI network ${rec.config.name} (${rec.config.source}) left no usable ${rec.ifName} in the sandbox: ${err.message}`,
      );
    });
  }

  private recordPath(id: string): string {
    return path.join(this.stateDir, id, 'network.json');
  }

  private record(id: string): Record | undefined {
    try {
      return JSON.parse(fs.readFileSync(this.recordPath(id), 'utf8')) as Record;
    } catch {
      return undefined;
    }
  }

  private writeRecord(rec: Record): void {
    const file = this.recordPath(rec.id);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(file + '.tmp', JSON.stringify(rec));
    fs.renameSync(file + '.tmp', file);
  }

  private serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.queues.set(id, tail);
    void tail.then(() => {
      if (this.queues.get(id) === tail) this.queues.delete(id);
    });
    return next;
  }
}

/**
 * Tear down every sandbox network the daemon of `execRoot` left (CNI DEL with what each ADD
 * had, the namespaces removed), whether it runs or not: for test teardown after a SIGKILL and for
 * uninstalling. A DEL that fails is logged; the namespace goes anyway.
 */
export async function removeAllSandboxNetworks(execRoot: string): Promise<void> {
  const stateDir = cniStateDir(execRoot);
  const nets = new CniNetworks({ stateDir });
  for (const id of nets.list()) {
    await nets.tearDown(id).catch(async (err: Error) => {
      log.warn(`sandbox ${id}: ${err.message}`);
      await removeNetns(stateDir, id);
    });
  }
}

/** A sandbox id names a directory of ours and is CNI_CONTAINERID: the spec's characters only. */
function checkSandboxId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id))
    throw new InvalidArgumentError(`unusable sandbox id ${JSON.stringify(id)} for CNI`);
}

function notReady(detail: string): NetworkCondition {
  return {
    ready: false,
    reason: 'NetworkPluginNotReady',
    message: `Network plugin returns error: cni plugin not initialized: ${detail}`,
  };
}
