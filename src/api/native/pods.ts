/**
 * The native API's pod routes (docs/native-api.md): list, create (and start), inspect, start
 * (on a held VM), stop (keeping the VM), replace, remove, logs. Creates go to the creation
 * service (src/engine), everything else to the pod service; nothing here touches a VM. Whether
 * a pod already runs (or does not) is decided by the pod layer inside the pod's operation,
 * never checked here first: its typed refusal is worded for this API (409).
 */
import type { Router } from 'express';
import { InvalidArgumentError, NotModifiedError } from '../../errors';
import { NoSuchContainerInPodError, PodNotRunningError } from '../../pod/errors';
import { containersOf, type PodRecord } from '../../pod/types';
import { nativeRequestOf } from './spec';
import type { NativeServices } from './services';
import { bodyOf, flag, onlyFields, optBool, optInt, optString } from './params';
import { podView, vmView } from './views';

/** Longest stop timeout a request may ask for (a day), in seconds. */
const MAX_TIMEOUT = 86_400;

/** Make a pod from a spec body; returns its id. */
async function createFrom(s: NativeServices, spec: unknown): Promise<string> {
  return (await s.engine.createNative(nativeRequestOf(spec))).id;
}

/**
 * Run `act` on `pod`; the pod layer's "already in that state" (NotModifiedError, or for a stop
 * keeping the VM PodNotRunningError) comes out as this API's 409 `message`.
 */
async function inState<T>(pod: PodRecord, message: string, act: () => Promise<T>): Promise<T> {
  try {
    return await act();
  } catch (err) {
    if (err instanceof NotModifiedError || (err instanceof PodNotRunningError && err.podId === pod.id))
      throw new NotModifiedError(`pod ${pod.name} ${message}`);
    throw err;
  }
}

/**
 * The body as fields: a JSON object, or a YAML pod file (text) as `spec` with the other
 * fields from the query (`start`, `vm`, `timeout`).
 */
function fieldsOf(body: unknown, query: Record<string, unknown>): Record<string, unknown> {
  if (typeof body !== 'string') return bodyOf(body);
  const b: Record<string, unknown> = { spec: body };
  for (const [k, v] of Object.entries(query)) {
    if (typeof v !== 'string') throw new InvalidArgumentError(`query parameter ${k} must be given once`);
    b[k] = k === 'start' ? flag(v, k) : k === 'timeout' ? (/^-?\d+$/.test(v) ? Number(v) : v) : v;
  }
  return b;
}

/** Start a pod, on a held VM when `vm` is given. */
async function startOn(s: NativeServices, ref: string, vm: string | undefined): Promise<void> {
  if (vm) await s.vms.startOnVm(ref, vm);
  else await s.pods.start(ref);
}

/** Register the pod routes on `router` (mounted at /v1). */
export function register(router: Router, s: NativeServices): void {
  router.get('/pods', (_req, res) => {
    res.json(s.pods.list().map(podView));
  });

  router.post('/pods', async (req, res) => {
    const b = fieldsOf(req.body, req.query);
    onlyFields(b, ['spec', 'start', 'vm']);
    const start = optBool(b, 'start');
    const vm = optString(b, 'vm');
    const id = await createFrom(s, b.spec);
    if (start || vm) await startOn(s, id, vm);
    res.status(201).json(podView(s.pods.get(id)));
  });

  router.get('/pods/:ref', (req, res) => {
    res.json(podView(s.pods.get(req.params.ref)));
  });

  router.post('/pods/:ref/start', async (req, res) => {
    const b = bodyOf(req.body);
    onlyFields(b, ['vm']);
    const pod = s.pods.get(req.params.ref);
    await inState(pod, 'is already running', () => startOn(s, pod.id, optString(b, 'vm')));
    res.json(podView(s.pods.get(pod.id)));
  });

  router.post('/pods/:ref/stop', async (req, res) => {
    const b = bodyOf(req.body);
    onlyFields(b, ['keepVm', 'timeout']);
    const pod = s.pods.get(req.params.ref);
    const timeout = optInt(b, 'timeout', -1, MAX_TIMEOUT);
    if (optBool(b, 'keepVm')) {
      const vm = await inState(pod, 'is not running', () => s.vms.stopKeepingVm(pod.id, timeout));
      res.json({ pod: podView(s.pods.get(pod.id)), vm: vmView(vm) });
      return;
    }
    await inState(pod, 'is not running', () => s.pods.stop(pod.id, timeout));
    res.json({ pod: podView(s.pods.get(pod.id)) });
  });

  router.post('/pods/:ref/replace', async (req, res) => {
    const b = fieldsOf(req.body, req.query);
    onlyFields(b, ['with', 'spec', 'timeout']);
    const old = s.pods.get(req.params.ref);
    const withRef = optString(b, 'with');
    const timeout = optInt(b, 'timeout', -1, MAX_TIMEOUT);
    if (!!withRef === (b.spec !== undefined))
      throw new InvalidArgumentError('give either "with" (a created pod) or "spec" (a pod to create)');
    const newId = withRef ? s.pods.get(withRef).id : await createFrom(s, b.spec);
    const vm = await s.vms.replace(old.id, newId, timeout);
    res.json({ pod: podView(s.pods.get(newId)), replaced: podView(s.pods.get(old.id)), vm: vmView(vm) });
  });

  // An extra process in a container of a running pod (by the container's name or id; default
  // the main one); it is started through the Docker API's /exec/{id}/start.
  router.post('/pods/:ref/exec', (req, res) => {
    const b = bodyOf(req.body);
    onlyFields(b, ['command', 'container', 'tty', 'stdin', 'detach']);
    const cmd = b.command;
    if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((x) => typeof x === 'string'))
      throw new InvalidArgumentError('field "command" must be a non-empty array of strings');
    const container = optString(b, 'container');
    const detach = optBool(b, 'detach');
    const x = s.pods.execCreate(s.pods.get(req.params.ref).id, {
      args: cmd as string[],
      env: [],
      workingDir: '',
      user: '',
      tty: optBool(b, 'tty'),
      attachStdin: optBool(b, 'stdin') && !detach,
      attachStdout: !detach,
      attachStderr: !detach,
      detachKeys: '',
      privileged: false,
      ...(container ? { container } : {}),
    });
    res.status(201).json({ id: x.id, container: x.containerId });
  });

  router.delete('/pods/:ref', async (req, res) => {
    const force = flag(req.query.force, 'force');
    const pod = s.pods.get(req.params.ref);
    await s.pods.remove(pod.id, { force });
    res.status(204).end();
  });

  router.get('/pods/:ref/logs', async (req, res) => {
    const follow = flag(req.query.follow, 'follow');
    const container = req.query.container;
    if (container !== undefined && (typeof container !== 'string' || !container))
      throw new InvalidArgumentError('query parameter container must be a container name or id');
    const pod = s.pods.get(req.params.ref);
    // Checked before the answer starts: the log generator would only fail once the 200 is sent.
    if (
      container &&
      !containersOf(pod).some(
        (c) => c.spec.id === container || c.spec.name === container || c.spec.id.startsWith(container),
      )
    ) {
      throw new NoSuchContainerInPodError(pod.id, container);
    }
    const entries = s.pods.logs(pod.id, { follow, stdout: true, stderr: true, ...(container ? { container } : {}) });
    res.status(200).type('text/plain');
    res.flushHeaders();
    const closed = new Promise<void>((r) => res.once('close', () => r()));
    let stop = false;
    void closed.then(() => (stop = true));
    for await (const e of entries) {
      if (stop) break;
      if (!res.write(e.log)) await Promise.race([new Promise((r) => res.once('drain', r)), closed]);
    }
    res.end();
  });
}
