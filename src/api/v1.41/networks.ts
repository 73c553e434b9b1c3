/**
 * The /networks routes in dockerd's JSON shape: create, list (filters), inspect, remove,
 * prune, connect and disconnect. The work is done by src/net's NetworkManager; this module
 * only decodes, checks and shapes. A container joins its networks when it starts
 * (src/pod/network/network.ts); connect and disconnect go to the pod layer (src/pod/network/network-connect.ts).
 */
import { parseLinks } from '../../translate/network/links';
import { checkLinkLocalIps } from '../../net/link-local';
import { dockerFrontend } from './docker/docker-types';
import type { Router } from 'express';
import type { ApiServices } from './services';
import { sendJson } from './kit/params';
import { filterMatch, labelsMatch, pruneLabelsMatch, type FilterMap } from './kit/filters';
import { pruneUntilSeconds } from './kit/time';
import { typed } from './schema/routes';
import { InvalidArgumentError, NotImplementedError, UnavailableError } from '../../errors';
import { parseRfc3339 } from '../../util/time';
import type { NetworkManager } from '../../net/manager';
import type { NetworkRecord } from '../../net/types';
import { apiVersionOf } from './versions';
import { endpointProblemsAtOnce, networkNameMayRepeat } from './versions/queries';
import { checkEndpointSettings, userRangesOf } from '../../net/endpoint-settings';
import { hasIpv6Pool } from '../../net/ip-family';

/**
 * dockerd's inspect JSON of one network. `shown` says which endpoints' containers its
 * `Containers` lists (all by default).
 */
export function networkJson(
  n: NetworkRecord,
  containers = true,
  shown: (containerId: string) => boolean = () => true,
): Record<string, unknown> {
  const eps: Record<string, unknown> = {};
  for (const ep of Object.values(n.endpoints)) {
    if (!shown(ep.containerId)) continue;
    const ip6 = ep.ip6 && n.ipam6 ? `${ep.ip6}/${n.ipam6.subnet.split('/')[1]}` : '';
    eps[ep.containerId] = {
      Name: ep.name,
      EndpointID: ep.id,
      MacAddress: ep.mac,
      IPv4Address: `${ep.ip}/${n.ipam.subnet.split('/')[1]}`,
      IPv6Address: ip6,
    };
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: 'local',
    Driver: n.driver,
    EnableIPv6: !!n.enableIPv6,
    IPAM: { Driver: 'default', Options: n.isDefault ? null : (n.ipamOptions ?? null), Config: n.ipamConfig },
    Internal: n.internal,
    Attachable: n.attachable,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers ? eps : {},
    Options: n.options,
    Labels: n.labels,
  };
}

function anyOf(values: string[] | undefined, test: (v: string) => boolean): boolean {
  return !values || values.length === 0 || values.some(test);
}

/**
 * The list filters of GET /networks, as dockerd applies them: `name` and `id` as regular
 * expressions (filterMatch), `driver` and `scope` exact, `label` as labelsMatch.
 */
export function matchesListFilters(n: NetworkRecord, f: FilterMap): boolean {
  for (const t of f.type ?? [])
    if (t !== 'custom' && t !== 'builtin') throw new InvalidArgumentError(`invalid filter: 'type'='${t}'`);
  for (const d of f.dangling ?? [])
    if (!['true', 'false', '1', '0'].includes(d)) throw new InvalidArgumentError(`invalid filter: 'dangling'='${d}'`);
  return (
    anyOf(f.driver, (v) => v === n.driver) &&
    filterMatch(f.id, n.id) &&
    filterMatch(f.name, n.name) &&
    anyOf(f.scope, (v) => v === 'local') &&
    anyOf(f.type, (v) => (v === 'builtin') === n.isDefault) &&
    anyOf(f.dangling, (v) => (v === 'true' || v === '1') === (!n.isDefault && Object.keys(n.endpoints).length === 0)) &&
    labelsMatch(n.labels, f.label ?? [])
  );
}

/** The daemon's network manager; dockerd's 503 when networks could not be set up. */
async function networkManager(services: ApiServices): Promise<NetworkManager> {
  const m = await services.networks?.manager;
  if (!m) throw new UnavailableError('networks are not available in this daemon (see its log)');
  return m;
}

/** The pod layer's calls that connect and disconnect; dockerd's 503 without containers. */
function networkPods(services: ApiServices) {
  const p = services.containers?.pods;
  if (!p?.connectNetwork || !p.disconnectNetwork)
    throw new UnavailableError('containers are not available in this daemon');
  return p as Required<Pick<typeof p, 'connectNetwork' | 'disconnectNetwork' | 'get' | 'isRunning' | 'update'>>;
}

/** Keep (or forget) the MAC a connect asked for on network `name`, for inspect to show. */
async function keepAskedMac(
  p: ReturnType<typeof networkPods>,
  id: string,
  name: string,
  mac: string | undefined,
): Promise<void> {
  const fe = dockerFrontend(p.get(id).frontend);
  if (!fe?.hostConfig) return; // a pod made by the native API keeps no Docker data
  const { [name]: old, ...others } = fe.endpointMacs ?? {};
  if (old === mac) return;
  const endpointMacs = mac ? { ...others, [name]: mac } : others;
  await p.update(id, { frontend: { ...fe, endpointMacs } });
}

/** Register the /networks routes, in this order: reads, then create/remove/prune, then connect/disconnect. */
export function register(router: Router, services: ApiServices): void {
  registerNetworkReads(router, services);
  registerNetworkLifecycle(router, services);
  registerNetworkMembership(router, services);
}

/** Register GET /networks (list) and GET /networks/:id (inspect). */
function registerNetworkReads(router: Router, services: ApiServices): void {
  router.get(
    '/networks',
    typed('GET /networks', async ({ query }, _req, res) => {
      const f = query.filters;
      const list = (await networkManager(services)).list().filter((n) => matchesListFilters(n, f));
      // dockerd's list leaves Containers empty; inspect fills it.
      sendJson(
        res,
        200,
        list.map((n) => networkJson(n, false)),
      );
    }),
  );

  router.get(
    '/networks/:id',
    typed('GET /networks/:id', async ({ params, query }, _req, res) => {
      if (query.scope && query.scope !== 'local') throw new InvalidArgumentError(`network ${params.id} not found`);
      sendJson(res, 200, networkJson((await networkManager(services)).get(params.id), true, runningPod(services)));
    }),
  );
}

/**
 * Whether the container of an endpoint runs, for a network's inspect: dockerd lists only running
 * containers there (a stopped one has no endpoint). podvisor takes an ended container off its
 * networks in its teardown, which goes on after `docker stop` or `rm` answered; Compose v2's
 * `down` inspects each network right after removing the containers and leaves one whose
 * `Containers` is not empty ("Resource is still in use") without asking to remove it.
 */
function runningPod(services: ApiServices): (containerId: string) => boolean {
  const pods = services.containers?.pods;
  return (id) => {
    if (!pods) return true;
    try {
      return pods.isRunning(id);
    } catch {
      return false; // removed: its teardown is under way
    }
  };
}

/** How long a network removal waits for the teardowns of containers that have ended. */
const TEARDOWN_WAIT_MS = 30_000;
/** How often the wait above looks at the network's endpoints again. */
const TEARDOWN_POLL_MS = 200;

/**
 * Before a network with endpoints is removed: wait (at most TEARDOWN_WAIT_MS) while an endpoint
 * belongs to a container that no longer runs, whose teardown is under way. dockerd takes a
 * container off its networks before its stop or rm answers; podvisor's teardown runs in the
 * background after the answer, so `compose down` (rm, then network rm at once) would otherwise
 * find an ended container's endpoint still there, more so on a loaded host. A network in use
 * by a running container is refused at once, as before.
 */
async function teardownsEnded(services: ApiServices, mgr: NetworkManager, ref: string): Promise<void> {
  const pods = services.containers?.pods;
  if (!pods) return;
  const running = runningPod(services);
  const deadline = Date.now() + TEARDOWN_WAIT_MS;
  for (;;) {
    let n: NetworkRecord;
    try {
      n = mgr.get(ref);
    } catch {
      return; // remove() answers for a network that is not there
    }
    const endpoints = Object.values(n.endpoints);
    if (endpoints.length === 0 || endpoints.every((ep) => running(ep.containerId))) return;
    if (Date.now() >= deadline) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      (pods.settled?.() ?? Promise.resolve()).catch(() => undefined),
      new Promise<void>((r) => (timer = setTimeout(r, TEARDOWN_POLL_MS))),
    ]);
    clearTimeout(timer);
  }
}

/** Register POST /networks/create, DELETE /networks/:id and POST /networks/prune. */
function registerNetworkLifecycle(router: Router, services: ApiServices): void {
  router.post(
    '/networks/create',
    typed('POST /networks/create', async ({ body }, _req, res) => {
      const b = body ?? {};
      if (b.Ingress) throw new NotImplementedError('ingress networks (swarm) are not supported');
      if (b.ConfigOnly || b.ConfigFrom?.Network)
        throw new NotImplementedError('config-only networks are not supported');
      if (b.IPAM?.Driver && b.IPAM.Driver !== 'default')
        throw new NotImplementedError(
          `IPAM driver "${b.IPAM.Driver}" is not supported: podvisor has the default one only`,
        );
      const mgrNow = await networkManager(services);
      const rec = await mgrNow.create({
        name: b.Name ?? '',
        driver: b.Driver,
        internal: b.Internal,
        attachable: b.Attachable,
        labels: b.Labels,
        options: b.Options,
        enableIPv6: b.EnableIPv6,
        ipam: (b.IPAM?.Config ?? []).map((c) => ({
          ...(c.Subnet ? { Subnet: c.Subnet } : {}),
          ...(c.IPRange ? { IPRange: c.IPRange } : {}),
          ...(c.Gateway ? { Gateway: c.Gateway } : {}),
          ...(c.AuxiliaryAddresses && Object.keys(c.AuxiliaryAddresses).length
            ? { AuxiliaryAddresses: c.AuxiliaryAddresses }
            : {}),
        })),
        ipamOptions: b.IPAM?.Options ?? null,
        // dockerd 20.10 checks names only when asked (the docker CLI and compose ask; the API
        // default is no); dockerd 26 always (versions/queries.ts).
        allowDuplicate: networkNameMayRepeat(b.CheckDuplicate, apiVersionOf(res)),
      });
      const same = mgrNow.list().find((n) => n.name === rec.name && n.id !== rec.id);
      sendJson(res, 201, {
        Id: rec.id,
        Warning: same ? `Network with name ${rec.name} (id : ${same.id}) already exists` : '',
      });
    }),
  );

  router.delete(
    '/networks/:id',
    typed('DELETE /networks/:id', async ({ params }, _req, res) => {
      const mgr = await networkManager(services);
      await teardownsEnded(services, mgr, params.id);
      await mgr.remove(params.id);
      res.status(204).end();
    }),
  );

  router.post(
    '/networks/prune',
    typed('POST /networks/prune', async ({ query }, _req, res) => {
      const f = query.filters;
      const until = f.until?.length ? pruneUntilSeconds(f.until[0]) : undefined;
      const keep = (n: NetworkRecord): boolean =>
        (until !== undefined && parseRfc3339(n.created) / 1000 >= until) || !pruneLabelsMatch(n.labels, f);
      const removed = await (await networkManager(services)).prune(keep);
      sendJson(res, 200, { NetworksDeleted: removed });
    }),
  );
}

/** Register POST /networks/:id/connect and POST /networks/:id/disconnect. */
function registerNetworkMembership(router: Router, services: ApiServices): void {
  router.post(
    '/networks/:id/connect',
    typed('POST /networks/:id/connect', async ({ params, body }, _req, res) => {
      const n = (await networkManager(services)).get(params.id);
      if (!body?.Container) throw new InvalidArgumentError('no container was specified');
      const ec = body.EndpointConfig ?? {};
      const p = networkPods(services);
      const id = p.get(body.Container).id;
      if (endpointProblemsAtOnce(apiVersionOf(res)))
        checkEndpointSettings(ec, {
          user: !n.isDefault,
          userSubnet: { 4: n.userSubnet, 6: hasIpv6Pool(n.ipamConfig) },
          userRanges: userRangesOf(n.ipamConfig, n.userSubnet),
        });
      const ip = ec.IPAMConfig?.IPv4Address || undefined;
      const ip6 = ec.IPAMConfig?.IPv6Address || undefined;
      const linkLocalIps = checkLinkLocalIps(ec.IPAMConfig?.LinkLocalIPs ?? []);
      // dockerd 20.10 takes EndpointConfig.MacAddress at connect and ignores it (the endpoint's MAC
      // is its own choice); so does podvisor: the spare NIC keeps its boot MAC. Of a container
      // that does not run, inspect shows the asked MAC until it starts, as dockerd's.
      const links = parseLinks(ec.Links);
      const running = p.isRunning(id);
      await p.connectNetwork(id, {
        ref: n.id,
        aliases: ec.Aliases ?? [],
        ...(ip ? { ip } : {}),
        ...(ip6 ? { ip6 } : {}),
        ...(linkLocalIps.length ? { linkLocalIps } : {}),
        ...(links.length ? { links } : {}),
      });
      if (!running) await keepAskedMac(p, id, n.name, ec.MacAddress || undefined);
      res.status(200).end();
    }),
  );

  router.post(
    '/networks/:id/disconnect',
    typed('POST /networks/:id/disconnect', async ({ params, body }, _req, res) => {
      const n = (await networkManager(services)).get(params.id);
      if (!body?.Container) throw new InvalidArgumentError('no container was specified');
      const p = networkPods(services);
      const id = p.get(body.Container).id;
      await p.disconnectNetwork(id, n.id);
      await keepAskedMac(p, id, n.name, undefined);
      res.status(200).end();
    }),
  );
}
