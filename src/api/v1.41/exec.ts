/**
 * Exec routes: `POST /containers/{id}/exec`, `POST /exec/{id}/start` (hijacked like attach,
 * or detached), `POST /exec/{id}/resize`, `GET /exec/{id}/json`.
 */
import type { Router } from 'express';
import type { ApiServices } from './services';
import { ConflictError, InvalidArgumentError } from '../../errors';
import { sendJson, svc } from './kit/params';
import { streamSink } from './kit/streams';
import { typed } from './schema/routes';
import { openRawStream } from './hijack';
import { apiVersionOf } from './versions';
import { hijackedStreamType } from './versions/views';
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from '../../translate/detach-keys';
import { AttachSession } from '../../pod/service';
import { dockerMessage } from '../../translate/errors';
import type { ExecRecord } from '../../pod/service';

/** dockerd's ExecInspect. */
export function execJson(x: ExecRecord): Record<string, unknown> {
  return {
    ID: x.id,
    Running: x.running,
    ExitCode: x.exitCode,
    ProcessConfig: {
      tty: x.config.tty,
      entrypoint: x.config.args[0] ?? '',
      arguments: x.config.args.slice(1),
      privileged: x.config.privileged,
      ...(x.config.user ? { user: x.config.user } : {}),
    },
    OpenStdin: x.config.attachStdin,
    OpenStderr: x.config.attachStderr,
    OpenStdout: x.config.attachStdout,
    CanRemove: false,
    ContainerID: x.containerId,
    DetachKeys: x.config.detachKeys,
    Pid: x.pid,
  };
}

/** Register the exec routes. */
export function register(router: Router, services: ApiServices): void {
  router.post(
    '/containers/:id/exec',
    typed('POST /containers/:id/exec', async ({ params, body }, _req, res) => {
      const c = svc(services, 'containers');
      const r = c.pods.get(params.id);
      const args = body.Cmd ?? [];
      if (args.length === 0) throw new InvalidArgumentError('No exec command specified');
      const detachKeys = body.DetachKeys ?? '';
      if (detachKeys) parseDetachKeys(detachKeys);
      for (const e of body.Env ?? []) {
        if (e === '' || e.startsWith('=')) throw new InvalidArgumentError(`invalid environment variable: ${e}`);
      }
      const wd = body.WorkingDir ?? '';
      if (wd && !wd.startsWith('/'))
        throw new InvalidArgumentError(`the working directory '${wd}' is invalid, it needs to be an absolute path`);
      const x = c.pods.execCreate(r.id, {
        args,
        env: body.Env ?? [],
        workingDir: wd,
        user: body.User ?? '',
        tty: body.Tty === true,
        attachStdin: body.AttachStdin === true,
        attachStdout: body.AttachStdout === true,
        attachStderr: body.AttachStderr === true,
        detachKeys,
        privileged: body.Privileged === true,
      });
      sendJson(res, 201, { Id: x.id });
    }),
  );

  router.post(
    '/exec/:id/start',
    typed('POST /exec/:id/start', async ({ params, body }, req, res) => {
      const c = svc(services, 'containers');
      const x = c.pods.execGet(params.id);
      if (body.Detach === true) {
        await c.pods.execStart(x.id);
        // dockerd answers a detached start with an empty 200.
        res.status(200).setHeader('Content-Length', '0');
        res.end();
        return;
      }
      if (x.started) throw new ConflictError(`Error: Exec command ${x.id} has already run`);
      if (!c.pods.isRunning(x.containerId)) throw new ConflictError(`Container ${x.containerId} is not running`);
      const raw = openRawStream(req, res, x.containerId, hijackedStreamType(body.Tty === true, apiVersionOf(res)));
      // dockerd frames the hijacked stream by the *start* request's Tty (a client may create
      // with a TTY and start with Tty false, as docker-py does: then the stream is stdcopy
      // framed); ProcessIo watches for detach keys only when the exec has a TTY.
      const framedTty = body.Tty === true;
      const session = new AttachSession({
        stdin: x.config.attachStdin ? raw.input : null,
        stdout: x.config.attachStdout,
        stderr: x.config.attachStderr,
        sink: streamSink(raw, framedTty),
        detachKeys: x.config.detachKeys ? parseDetachKeys(x.config.detachKeys) : DEFAULT_DETACH_KEYS,
      });
      if (!x.config.attachStdin) raw.input?.resume();
      void raw.closed.then(() => session.finish('client-gone'));
      try {
        await c.pods.execStart(x.id, session);
      } catch (err) {
        // The stream is already hijacked: dockerd writes the error on the (framed) stdout
        // stream, then closes; the CLI then reads the exit code (126/127) from exec inspect.
        streamSink(raw, framedTty).write('stdout', Buffer.from(`${dockerMessage(err) ?? (err as Error).message}\r\n`));
        session.finish('exited');
      }
    }),
  );

  router.post(
    '/exec/:id/resize',
    typed('POST /exec/:id/resize', async ({ params, query }, _req, res) => {
      const c = svc(services, 'containers');
      const h = query.h ?? 0;
      const w = query.w ?? 0;
      if (h > 0 && w > 0) await c.pods.execResize(params.id, h, w);
      else c.pods.execGet(params.id);
      res.status(200).end();
    }),
  );

  router.get(
    '/exec/:id/json',
    typed('GET /exec/:id/json', async ({ params }, _req, res) => {
      const c = svc(services, 'containers');
      sendJson(res, 200, execJson(c.pods.execGet(params.id)));
    }),
  );
}
