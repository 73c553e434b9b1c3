/**
 * System routes: /_ping (GET and HEAD, with dockerd's headers), /version, /info, /events and
 * /system/df, in dockerd 20.10's shapes.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Router } from 'express';
import type { ApiServices } from './services';
import { API_VERSION, MIN_API_VERSION } from './version';
import { sendJson } from './kit/params';
import { labelsMatch } from './kit/filters';
import { openStream } from './kit/streams';
import { timeArgNanos } from './kit/time';
import { typed } from './schema/routes';
import { MAX_TIMER_MS } from '../../util/time';
import type { DaemonEvent } from '../../pod/events';
import { diskUsage } from './system-df';
import { NETWORK_DRIVERS } from '../../net/manager';
import { listedLogDrivers } from '../../translate/request/policy/log-config';
import { SECURITY_OPTIONS } from './docker/seccomp-opt';
import { apiVersionOf } from './versions';
import { diskUsageFor, diskUsageTypes, infoFor, pingHeadersFor } from './versions/views';

/**
 * Headers dockerd sets on /_ping answers beside those of every answer (OSType and
 * Docker-Experimental, set by the server); the CLI reads API-Version and OSType.
 */
function pingHeaders(): Record<string, string> {
  return {
    'API-Version': API_VERSION,
    'Cache-Control': 'no-cache, no-store, must-revalidate',
    Pragma: 'no-cache',
  };
}

/** An event in dockerd's wire form, with the legacy status/id/from fields compose reads. */
export function eventJson(e: DaemonEvent): Record<string, unknown> {
  const legacy: Record<string, unknown> = {};
  if (e.type === 'container' || e.type === 'image') {
    legacy.status = e.action;
    legacy.id = e.id;
    if (e.type === 'container' && e.attributes.image) legacy.from = e.attributes.image;
  }
  return {
    ...legacy,
    Type: e.type,
    Action: e.action,
    Actor: { ID: e.id, Attributes: e.attributes },
    scope: 'local',
    time: Number(e.timeNano / 1000000000n),
    timeNano: Number(e.timeNano),
  };
}

/**
 * One line of the /events stream. timeNano (~1.8e18) is beyond a double's exact integers,
 * so it is spliced into the JSON text as the exact decimal dockerd writes.
 */
export function eventLine(e: DaemonEvent): string {
  const json = JSON.stringify({ ...eventJson(e), timeNano: 0 });
  return json.replace(/"timeNano":0}$/, `"timeNano":${e.timeNano.toString()}}`) + '\n';
}

/**
 * Whether an event passes `/events` filters: keys AND'ed; the values of one key OR'ed,
 * except `label`, whose values must all match the event's attributes (as dockerd's
 * MatchKVList).
 */
export function eventMatches(e: DaemonEvent, f: Record<string, string[]>): boolean {
  const any = (k: string, test: (v: string) => boolean) => !f[k]?.length || f[k].some(test);
  const baseAction = e.action.includes(':') ? e.action.slice(0, e.action.indexOf(':')) : e.action;
  return (
    any('type', (v) => v === e.type) &&
    any('event', (v) => v === e.action || v === baseAction) &&
    any('container', (v) => e.type === 'container' && (e.id.startsWith(v) || e.attributes.name === v)) &&
    any(
      'image',
      (v) => e.attributes.image === v || (e.type === 'image' && e.id === v) || e.attributes.image === `${v}:latest`,
    ) &&
    labelsMatch(e.attributes, f.label ?? []) &&
    any('scope', (v) => v === 'local') &&
    any('daemon', () => e.type === 'daemon') &&
    any('network', (v) => e.type === 'network' && (e.id.startsWith(v) || e.attributes.name === v)) &&
    any('volume', (v) => e.type === 'volume' && e.id === v)
  );
}

function osRelease(): { name: string; version: string } {
  try {
    const text = fs.readFileSync('/etc/os-release', 'utf8');
    const get = (k: string) => new RegExp(`^${k}="?([^"\\n]*)"?$`, 'm').exec(text)?.[1] ?? '';
    return { name: get('PRETTY_NAME') || 'Linux', version: get('VERSION_ID') };
  } catch {
    return { name: 'Linux', version: '' };
  }
}

/** Register the system routes: one named handler per route, below. */
export function register(router: Router, services: ApiServices): void {
  router.get('/_ping', ping());
  router.head('/_ping', pingHead());
  router.get('/version', version(services));
  router.get('/info', info(services));
  router.get('/events', events(services));
  router.get('/system/df', systemDf(services));
}

/** GET /_ping. */
function ping() {
  return typed('GET /_ping', (_input, _req, res) => {
    res
      .set({ ...pingHeaders(), ...pingHeadersFor(apiVersionOf(res)) })
      .type('text/plain')
      .send('OK');
  });
}

/** HEAD /_ping. */
function pingHead() {
  return typed('HEAD /_ping', (_input, _req, res) => {
    res
      .set({ ...pingHeaders(), ...pingHeadersFor(apiVersionOf(res)) })
      .type('text/plain')
      .set('Content-Length', '0')
      .end();
  });
}

/** GET /version. */
function version(services: ApiServices) {
  return typed('GET /version', (_input, _req, res) => {
    const v = services.system.version;
    const details = {
      ApiVersion: API_VERSION,
      Arch: 'amd64',
      BuildTime: '',
      Experimental: services.system.experimental ? 'true' : 'false',
      GitCommit: '',
      GoVersion: `node${process.versions.node}`,
      KernelVersion: os.release(),
      MinAPIVersion: MIN_API_VERSION,
      Os: 'linux',
    };
    sendJson(res, 200, {
      Platform: { Name: 'podvisor' },
      Components: [
        { Name: 'Engine', Version: v, Details: details },
        { Name: 'podvisor-vm', Version: v, Details: { Accel: services.system.accel } },
      ],
      Version: v,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: '',
      GoVersion: details.GoVersion,
      Os: 'linux',
      Arch: 'amd64',
      KernelVersion: os.release(),
      BuildTime: '',
      // dockerd leaves it out unless it runs in experimental mode.
      ...(services.system.experimental ? { Experimental: true } : {}),
    });
  });
}

/** GET /info. */
function info(services: ApiServices) {
  return typed('GET /info', (_input, _req, res) => {
    const counts = services.containers?.pods.counts() ?? { total: 0, running: 0, paused: 0, stopped: 0 };
    const rel = osRelease();
    const images = services.images?.store.list().length ?? 0;
    const json = {
      ID: services.system.id ?? '',
      Containers: counts.total,
      ContainersRunning: counts.running,
      ContainersPaused: counts.paused,
      ContainersStopped: counts.stopped,
      Images: images,
      Driver: 'overlay2',
      DriverStatus: [
        ['Backing Filesystem', 'extfs'],
        ['Supports d_type', 'true'],
        ['Native Overlay Diff', 'true'],
      ],
      // The drivers served: without network services only --network none works, without volume services no volume.
      Plugins: {
        Volume: services.volumes ? ['local'] : [],
        Network: services.networks ? [...NETWORK_DRIVERS] : ['null'],
        Authorization: null,
        Log: listedLogDrivers(),
      },
      MemoryLimit: true,
      SwapLimit: false,
      KernelMemory: false,
      KernelMemoryTCP: false,
      // The guest's cgroup v2 applies these (cpu.max, cpu.weight, cpuset, pids.max), as dockerd reports them there.
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: true,
      PidsLimit: true,
      IPv4Forwarding: true,
      BridgeNfIptables: false,
      BridgeNfIp6tables: false,
      Debug: false,
      NFd: 0,
      OomKillDisable: false,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: services.system.logDriver ?? 'json-file',
      CgroupDriver: 'none',
      CgroupVersion: '',
      NEventsListener: services.containers?.events.listenerCount ?? 0,
      KernelVersion: os.release(),
      OperatingSystem: rel.name,
      OSVersion: rel.version,
      OSType: 'linux',
      Architecture: os.arch() === 'x64' ? 'x86_64' : os.arch(),
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: {
        AllowNondistributableArtifactsCIDRs: [],
        AllowNondistributableArtifactsHostnames: [],
        InsecureRegistryCIDRs: ['127.0.0.0/8'],
        IndexConfigs: { 'docker.io': { Name: 'docker.io', Mirrors: [], Secure: true, Official: true } },
        Mirrors: [],
      },
      NCPU: os.cpus().length,
      MemTotal: os.totalmem(),
      GenericResources: null,
      DockerRootDir: services.system.dataRoot,
      HttpProxy: '',
      HttpsProxy: '',
      NoProxy: '',
      Name: os.hostname(),
      Labels: [],
      ExperimentalBuild: !!services.system.experimental,
      ServerVersion: services.system.version,
      // The one runtime, under dockerd's default name (see docs/limitations.md).
      Runtimes: { runc: { path: 'podvisord' } },
      DefaultRuntime: 'runc',
      Swarm: {
        NodeID: '',
        NodeAddr: '',
        LocalNodeState: 'inactive',
        ControlAvailable: false,
        Error: '',
        RemoteManagers: null,
      },
      LiveRestoreEnabled: true,
      Isolation: '',
      InitBinary: 'docker-init',
      ContainerdCommit: { ID: '', Expected: '' },
      RuncCommit: { ID: '', Expected: '' },
      InitCommit: { ID: '', Expected: '' },
      SecurityOptions: SECURITY_OPTIONS,
      Warnings:
        services.system.accel === 'tcg'
          ? ['WARNING: VMs run under TCG software emulation (KVM is not usable here)']
          : null,
    };
    sendJson(res, 200, infoFor(json, apiVersionOf(res)));
  });
}

/** GET /events. */
function events(services: ApiServices) {
  return typed('GET /events', async ({ query }, _req, res) => {
    const c = services.containers;
    const filters = query.filters;
    const since = timeArgNanos(query.since, 'since');
    const until = timeArgNanos(query.until, 'until');
    openStream(res, 'application/json');
    if (!c) {
      res.end();
      return;
    }
    const send = (e: DaemonEvent) => {
      if (eventMatches(e, filters)) res.write(eventLine(e));
    };
    const queue: DaemonEvent[] = [];
    let live = false;
    const unsubscribe = c.events.subscribe((e) => {
      if (!live) queue.push(e);
      else if (until !== undefined && e.timeNano > until) finish();
      else send(e);
    });
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      if (!res.writableEnded) res.end();
    };
    res.on('close', finish);
    if (since !== undefined) {
      for (const e of c.events.past(since, until)) if (!queue.includes(e)) send(e);
    }
    for (const e of queue) if (until === undefined || e.timeNano <= until) send(e);
    live = true;
    if (until !== undefined) {
      const nowNano = BigInt(Date.now()) * 1000000n;
      if (until <= nowNano) finish();
      // Clamped to what a timer holds (a far `until` would overflow and fire at once).
      else timer = setTimeout(finish, Math.min(Number((until - nowNano) / 1000000n), MAX_TIMER_MS));
    }
  });
}

/** GET /system/df. */
function systemDf(services: ApiServices) {
  return typed('GET /system/df', async ({ query }, _req, res) => {
    const v = apiVersionOf(res);
    const types = diskUsageTypes(query.type, v);
    sendJson(res, 200, diskUsageFor(await diskUsage(services), v, types));
  });
}
