/**
 * The daemon's listen sockets (dockerd's -H), and who may reach them. Whoever talks to the
 * API is root on this machine, so:
 *
 *  - unix:// sockets are created with mode 0660 (never wider, not even for an instant: the
 *    umask is 0177 while the socket is bound), owned by the daemon's user and the group of
 *    -G/--group. The default group `docker` is used when it exists, else the daemon's own
 *    group; a group named explicitly must exist (dockerd's rules). A stale socket file left by
 *    a killed daemon is replaced.
 *  - tcp:// is served with TLS (node:tls via https.Server): --tls, or --tlsverify, which also
 *    requires a client certificate signed by --tlscacert. Plain tcp:// is refused at startup
 *    (./config-file.ts) unless --insecure-tcp asks for it, and then each listener logs a
 *    warning.
 *
 * Both kinds serve the same express app, and both carry Docker's hijacked streams (attach,
 * exec start): `installHijack` works on the 'upgrade' event that http and https servers share.
 *
 * Every connection a server accepts is tracked until it closes, hijacked ones included (Node
 * forgets a connection once it is upgraded: closeAllConnections does not reach it, and
 * server.close() waits for it forever). `stopServing` closes the listeners and destroys them
 * all, so a daemon shutdown never waits for a client.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Express } from 'express';
import { logger } from '../util/log';
import { InvalidArgumentError, UnavailableError } from '../errors';
import { installHijack } from '../api/v1.41/hijack';
import type { DaemonOptions } from './options';
import type { Server as NetServer, Socket } from 'node:net';

const log = logger('daemon');

/** An API server of either kind. */
export type ApiServer = http.Server | https.Server;

/** What the listeners need, loaded and checked before the daemon does any other work. */
export interface ListenPlan {
  hosts: string[];
  /** Key, certificate and CA for tcp:// hosts; undefined without --tls/--tlsverify. */
  tls?: { key: Buffer; cert: Buffer; ca?: Buffer; verify: boolean };
  insecureTcp: boolean;
  /** Group id of the unix sockets (undefined: the daemon's own). */
  gid?: number;
}

/** The gid of a group name or number, from /etc/group (dockerd's lookupGID). */
export function lookupGid(name: string, groupFile = '/etc/group'): number | undefined {
  let text = '';
  try {
    text = fs.readFileSync(groupFile, 'utf8');
  } catch {
    // No group file: only a number can be used.
  }
  for (const line of text.split('\n')) {
    const [gname, , gid] = line.split(':');
    if (gid !== undefined && /^\d+$/.test(gid) && (gname === name || gid === name)) return Number(gid);
  }
  return /^\d+$/.test(name) ? Number(name) : undefined;
}

function readPem(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message;
    throw new InvalidArgumentError(`${what}: open ${file}: ${why}`);
  }
}

/** Load the TLS files and resolve the socket group; throws errors in dockerd's words. */
export function planListeners(o: DaemonOptions, groupFile?: string): ListenPlan {
  const plan: ListenPlan = { hosts: o.hosts, insecureTcp: o.insecureTcp };
  const tcp = o.hosts.some((h) => h.startsWith('tcp://'));
  if (tcp && o.tls) {
    const keyPair = `Could not load X509 key pair (cert: "${o.tlsCert}", key: "${o.tlsKey}")`;
    plan.tls = {
      cert: readPem(o.tlsCert, keyPair),
      key: readPem(o.tlsKey, keyPair),
      verify: o.tlsVerify,
      ...(o.tlsVerify ? { ca: readPem(o.tlsCaCert, `Could not read CA certificate "${o.tlsCaCert}"`) } : {}),
    };
  }
  if ([...o.hosts, ...o.criHosts].some((h) => h.startsWith('unix://')) && o.group) {
    const gid = lookupGid(o.group, groupFile);
    if (gid === undefined && !o.groupIsDefault)
      throw new InvalidArgumentError(`failed to load listeners: group ${o.group} not found`);
    if (gid === undefined) log.debug(`group ${o.group} not found: unix sockets keep the daemon's group`);
    plan.gid = gid;
  }
  return plan;
}

/** A server for `host`: https for tcp:// with TLS, plain http otherwise. */
function createServer(app: Express, host: string, plan: ListenPlan): ApiServer {
  if (!host.startsWith('tcp://') || !plan.tls) return http.createServer(app);
  const t = plan.tls;
  const server = https.createServer(
    // allowHalfOpen: a hijacked stream's client half-closes (TLS close_notify) to end stdin and
    // then reads the output; without it Node would close the connection at once (`run -i`).
    {
      key: t.key,
      cert: t.cert,
      minVersion: 'TLSv1.2',
      allowHalfOpen: true,
      ...(t.verify ? { ca: t.ca, requestCert: true, rejectUnauthorized: true } : {}),
    },
    app,
  );
  server.on('tlsClientError', (err, socket) => {
    log.info(
      `http: TLS handshake error from ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}: ${err.message}`,
    );
  });
  return server;
}

function listen(server: NetServer, ...args: Array<string | number>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(...(args as [string]), () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Bind a unix socket with mode 0660 and the plan's group (any server: the API's, the CRI's). */
export async function listenUnix(server: NetServer, sock: string, gid: number | undefined): Promise<void> {
  fs.mkdirSync(path.dirname(sock), { recursive: true });
  try {
    fs.unlinkSync(sock);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  // The bind happens inside listen(): the socket file is born 0600, never wider.
  const old = process.umask(0o177);
  let bound: Promise<void>;
  try {
    bound = listen(server, sock);
  } finally {
    process.umask(old);
  }
  await bound;
  if (gid !== undefined) {
    try {
      fs.chownSync(sock, process.getuid?.() ?? 0, gid);
    } catch (e) {
      // A daemon that is not root may not give the socket to a group it is not in.
      log.warn(`could not change group of ${sock} to ${gid}: ${(e as Error).message}`);
    }
  }
  fs.chmodSync(sock, 0o660);
}

/** The open connections of each server (see the module comment). */
const CONNECTIONS = new WeakMap<NetServer, Set<Socket>>();

/** Track `server`'s connections until they close, so stopServing can destroy them. */
export function trackConnections(server: NetServer): void {
  const open = new Set<Socket>();
  CONNECTIONS.set(server, open);
  // For https this is the TCP socket under the TLS one: destroying it ends both.
  server.on('connection', (s: Socket) => {
    open.add(s);
    s.once('close', () => open.delete(s));
  });
}

/**
 * Stop serving: close the listeners (a unix socket's file goes at once) and destroy every
 * open connection, hijacked streams included. Resolves once every server has closed.
 */
export async function stopServing(servers: readonly NetServer[]): Promise<void> {
  const closed = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
  for (const s of servers) {
    if ('closeAllConnections' in s) (s as ApiServer).closeAllConnections();
    for (const c of CONNECTIONS.get(s) ?? []) c.destroy();
  }
  await Promise.all(closed);
}

/** Create the server for `host`, wire the hijacked streams and start listening. */
export async function serveOn(app: Express, host: string, plan: ListenPlan): Promise<ApiServer> {
  const server = createServer(app, host, plan);
  trackConnections(server);
  // attach / exec start / attach/ws arrive as Upgrade requests: route them through the app.
  installHijack(server, app);
  if (host.startsWith('unix://')) {
    await listenUnix(server, host.slice('unix://'.length), plan.gid);
    return server;
  }
  const m = /^tcp:\/\/([^:]*):(\d+)$/.exec(host);
  if (!m) throw new UnavailableError(`cannot listen on ${host}`);
  // dockerd: an empty host part is localhost.
  const addr = m[1] || '127.0.0.1';
  if (!plan.tls) {
    if (!plan.insecureTcp) throw new InvalidArgumentError(insecureTcpRefusal(host));
    log.warn('!!! ------------------------------------------------------------------------------ !!!');
    log.warn(`!!! ${host} is served WITHOUT TLS (--insecure-tcp): anyone who can reach it is root on this machine.`);
    log.warn('!!! Use --tlsverify with --tlscacert, --tlscert and --tlskey instead.');
    log.warn('!!! ------------------------------------------------------------------------------ !!!');
  } else if (!plan.tls.verify) {
    log.warn(
      `${host}: TLS without --tlsverify: clients are not authenticated, ` +
        'anyone who can reach it is root on this machine',
    );
  }
  await listen(server, Number(m[2]), addr);
  return server;
}

/** The error for a tcp:// host without TLS (refused unless --insecure-tcp). */
export function insecureTcpRefusal(host: string): string {
  return (
    `refusing to serve ${host} without TLS: whoever reaches it is root on this machine. ` +
    'Use --tlsverify with --tlscacert, --tlscert and --tlskey (or --tls), ' +
    'or --insecure-tcp to serve it without TLS anyway'
  );
}

/** The value of DOCKER_HOST a user should export to reach `host`. */
export function dockerHostFor(host: string): string {
  return host.replace(/^tcp:\/\/(0\.0\.0\.0)?:/, 'tcp://127.0.0.1:');
}
