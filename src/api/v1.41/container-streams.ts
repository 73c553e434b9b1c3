/**
 * Container stream routes of the Docker Engine API v1.41: logs, top, stats and attach (plain
 * hijacked and WebSocket), written as dockerd writes them.
 */
import { PassThrough } from 'node:stream';
import type { Router } from 'express';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ApiServices } from './services';
import { InvalidArgumentError } from '../../errors';
import { sendJson, svc } from './kit/params';
import { openStream, sleep, streamSink } from './kit/streams';
import { timeArgNanos } from './kit/time';
import { typed } from './schema/routes';
import { drainOf, frame, openRawStream, rawSessions, upgradeOf } from './hijack';
import { apiVersionOf } from './versions';
import { hijackedStreamType } from './versions/views';
import { wsAttachStreams } from './versions/queries';
import { statsJson } from './json/stats';
import { networksStats } from '../../net/tap-stats';
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from '../../translate/detach-keys';
import type { LogEntry } from '../../pod/service';
import { assertLogsReadable } from './docker/log-config';
import { mainContainer } from '../../pod/types';
import { topTable } from './top/top-table';

/**
 * Detach keys from the query (`detachKeys`), dockerd's 400 when malformed. ProcessIo watches
 * for them only when the process has a TTY, as dockerd does.
 */
function detachKeysOf(v: string): Buffer {
  return v ? parseDetachKeys(v) : DEFAULT_DETACH_KEYS;
}

/** A container's per-interface network counters, read on the host from its taps. */
async function netStats(services: ApiServices, id: string): Promise<Record<string, unknown> | undefined> {
  const nets = await services.networks?.manager;
  return nets ? networksStats(nets.endpointsOf(id).map((e) => e.tap)) : undefined;
}

/** Register the container stream routes, in this order: logs, top and stats, attach. */
export function register(router: Router, services: ApiServices): void {
  registerLogs(router, services);
  registerTopAndStats(router, services);
  registerAttach(router, services);
}

/** Register GET /containers/:id/logs: the log, raw with a TTY, in dockerd's frames without. */
function registerLogs(router: Router, services: ApiServices): void {
  router.get(
    '/containers/:id/logs',
    typed('GET /containers/:id/logs', async ({ params, query }, _req, res) => {
      const c = svc(services, 'containers');
      const r = c.pods.get(params.id);
      const stdout = query.stdout;
      const stderr = query.stderr;
      if (!stdout && !stderr) throw new InvalidArgumentError('Bad parameters: you must choose at least one stream');
      assertLogsReadable(r.sandbox.spec.log);
      const tailRaw = query.tail;
      const tail = tailRaw === '' || tailRaw === 'all' || !/^\d+$/.test(tailRaw) ? undefined : Number(tailRaw);
      const sinceNano = timeArgNanos(query.since, 'since');
      const untilNano = timeArgNanos(query.until, 'until');
      const timestamps = query.timestamps;
      const follow = query.follow;
      const tty = mainContainer(r).spec.tty;
      // dockerd: a raw stream when the container has a TTY, multiplexed frames otherwise.
      const stream = openStream(
        res,
        tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream',
      );
      const iter = c.pods.logs(r.id, { stdout, stderr, tail, sinceNano, untilNano, follow });
      try {
        for await (const e of iter) {
          if (stream.gone) break;
          const payload = timestamps ? Buffer.concat([Buffer.from(`${e.time} `), e.log]) : e.log;
          if (!res.write(tty ? payload : frame(e.stream, payload))) await drainOf(res);
        }
      } finally {
        await iter.return(undefined as unknown as LogEntry);
        if (!res.writableEnded) res.end();
      }
    }),
  );
}

/** Register GET /containers/:id/top and GET /containers/:id/stats (one answer, or a stream each second). */
function registerTopAndStats(router: Router, services: ApiServices): void {
  router.get(
    '/containers/:id/top',
    typed('GET /containers/:id/top', async ({ params, query }, _req, res) => {
      const c = svc(services, 'containers');
      const r = c.pods.get(params.id);
      const t = await topTable(c.pods, r.id, query.ps_args || '-ef');
      sendJson(res, 200, { Processes: t.processes, Titles: t.titles });
    }),
  );

  router.get(
    '/containers/:id/stats',
    typed('GET /containers/:id/stats', async ({ params, query }, _req, res) => {
      const c = svc(services, 'containers');
      const r = c.pods.get(params.id);
      const stream = query.stream;
      const oneShot = query['one-shot'];
      if (!stream) {
        let prev;
        if (!oneShot && c.pods.isRunning(r.id)) {
          // dockerd waits for a second sample so that precpu_stats is filled (CPU % needs both).
          prev = await c.pods.sample(r.id);
          await sleep(1000);
        }
        const cur = await c.pods.sample(r.id).catch(() => undefined);
        sendJson(res, 200, statsJson(r.id, c.pods.get(r.id).name, cur, prev, await netStats(services, r.id)));
        return;
      }
      const out = openStream(res, 'application/json');
      let prev;
      while (!out.gone) {
        let cur;
        try {
          cur = c.pods.isRunning(r.id) ? await c.pods.sample(r.id) : undefined;
        } catch {
          cur = undefined;
        }
        let name: string;
        try {
          name = c.pods.get(r.id).name;
        } catch {
          break; // removed
        }
        res.write(JSON.stringify(statsJson(r.id, name, cur, prev, cur && (await netStats(services, r.id)))) + '\n');
        prev = cur;
        await sleep(1000);
      }
      if (!res.writableEnded) res.end();
    }),
  );
}

/** Register POST /containers/:id/attach (hijacked) and GET /containers/:id/attach/ws (WebSocket). */
function registerAttach(router: Router, services: ApiServices): void {
  router.post(
    '/containers/:id/attach',
    typed('POST /containers/:id/attach', async ({ params, query }, req, res) => {
      const c = svc(services, 'containers');
      const r = c.pods.get(params.id);
      c.pods.checkAttach?.(params.id); // before the stream opens: a refusal is a plain answer
      const tty = mainContainer(r).spec.tty;
      const keys = detachKeysOf(query.detachKeys);
      const logs = query.logs;
      const stream = query.stream;
      const raw = openRawStream(req, res, r.id, hijackedStreamType(tty, apiVersionOf(res)));
      const session = c.pods.attach(r.id, {
        stdin: query.stdin ? raw.input : null,
        stdout: query.stdout,
        stderr: query.stderr,
        sink: streamSink(raw, tty),
        detachKeys: keys,
        logs,
        stream,
      });
      void raw.closed.then(() => session.finish('client-gone'));
      if (!query.stdin) raw.input?.resume();
    }),
  );

  const wss = new WebSocketServer({ noServer: true });
  router.get(
    '/containers/:id/attach/ws',
    typed('GET /containers/:id/attach/ws', async ({ params, query }, req, res) => {
      const c = svc(services, 'containers');
      const r = c.pods.get(params.id);
      c.pods.checkAttach?.(params.id);
      const up = upgradeOf(req);
      if (!up) throw new InvalidArgumentError('this endpoint needs a WebSocket upgrade');
      const keys = detachKeysOf(query.detachKeys);
      const streams = wsAttachStreams(query, apiVersionOf(res));
      // Counted with /attach and exec start (limits.ts): past the limit, 429 before the upgrade.
      const release = rawSessions.acquire(r.id);
      up.socket.once('close', release);
      up.taken = true;
      res.detachSocket(up.socket as unknown as import('node:net').Socket);
      wss.handleUpgrade(req, up.socket as unknown as import('node:net').Socket, up.head, (ws: WebSocket) => {
        ws.on('close', release);
        // dockerd's websocket attach: binary messages, no stdcopy framing, stdin from messages.
        const input = new PassThrough();
        ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
          input.write(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
        });
        ws.on('close', () => input.end());
        const session = c.pods.attach(r.id, {
          stdin: streams.stdin ? input : null,
          stdout: streams.stdout,
          stderr: streams.stderr,
          detachKeys: keys,
          logs: query.logs,
          stream: query.stream,
          sink: {
            write: (_s, d) => {
              if (ws.readyState === ws.OPEN) ws.send(d, { binary: true });
              return true;
            },
            drain: async () => {},
            end: () => ws.close(),
          },
        });
        ws.on('close', () => session.finish('client-gone'));
      });
    }),
  );
}
