/**
 * The native API's checkpoint routes (docs/native-api.md, docs/checkpoint.md): save a running
 * pod whole, list and remove its checkpoints, start it again from one (restore), and fork: start
 * new pods from a checkpoint. The
 * pod layer's refusals (CheckpointError) are worded for this API: a missing checkpoint is a
 * 404, a taken name a 409, a pod that does not run a 409, anything a save or restore cannot do
 * a 500 with its reason.
 */
import type { Router } from 'express';
import {
  ConflictError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  NotModifiedError,
  UnavailableError,
} from '../../errors';
import { CheckpointError } from '../../pod/errors';
import type { NativeServices } from './services';
import { bodyOf, onlyFields, optBool, optInt, optString } from './params';
import { podView } from './views';

/** Most forks one request may ask for (the pod layer's limit, src/pod/checkpoints/forks.ts). */
const MAX_FORKS = 64;

/** `act`, its CheckpointError said in this API's words for pod `pod` and checkpoint `name`. */
async function worded<T>(pod: string, name: string, act: () => Promise<T>): Promise<T> {
  try {
    return await act();
  } catch (err) {
    if (!(err instanceof CheckpointError)) throw err;
    const detail = err.detail ? `: ${err.detail}` : '';
    switch (err.refusal) {
      case 'missing':
        throw new NotFoundError(`pod ${pod} has no checkpoint ${name}`);
      case 'exists':
        throw new ConflictError(`pod ${pod} has a checkpoint ${name} already`);
      case 'not-running':
        throw new ConflictError(`pod ${pod} is not running`);
      case 'bad-name':
        throw new InvalidArgumentError(`bad checkpoint name ${JSON.stringify(name)}: [a-zA-Z0-9][a-zA-Z0-9_.-]+`);
      case 'tty':
        throw new InvalidArgumentError(`pod ${pod} has a terminal: it cannot be saved`);
      default:
        throw new UnavailableError(`checkpoint ${name} of pod ${pod}${detail}`);
    }
  }
}

/** An array of strings field, if given. */
function optStrings(b: Record<string, unknown>, field: string): string[] | undefined {
  const v = b[field];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== ''))
    throw new InvalidArgumentError(`field "${field}" must be an array of names`);
  return v as string[];
}

/** Register the checkpoint routes on `router` (mounted at /v1). */
export function register(router: Router, s: NativeServices): void {
  const pods = s.pods;
  const need = <K extends 'checkpoints' | 'checkpoint' | 'removeCheckpoint' | 'fork'>(k: K) => {
    const f = pods[k];
    if (!f) throw new NotImplementedError('checkpoints are not available');
    return f.bind(pods) as NonNullable<(typeof pods)[K]>;
  };

  router.get('/pods/:ref/checkpoints', async (req, res) => {
    const pod = pods.get(req.params.ref);
    res.json((await need('checkpoints')(pod.id)).map((name) => ({ name })));
  });

  router.post('/pods/:ref/checkpoints', async (req, res) => {
    const b = bodyOf(req.body);
    onlyFields(b, ['name', 'leaveRunning', 'image']);
    const name = optString(b, 'name');
    const image = optString(b, 'image');
    const pod = pods.get(req.params.ref);
    if (image !== undefined) {
      // A checkpoint image (docs/checkpoint-images.md): `name` also keeps the checkpoint.
      if (!s.checkpointImages) throw new NotImplementedError('checkpoint images are not available');
      const make = s.checkpointImages.make.bind(s.checkpointImages);
      const id = await worded(pod.name, name ?? image, () =>
        make(pod.id, image, { ...(name ? { name } : {}), exit: !optBool(b, 'leaveRunning') }),
      );
      res.status(201).json({ image: id, ...(name ? { name } : {}), pod: podView(pods.get(pod.id)) });
      return;
    }
    if (!name) throw new InvalidArgumentError('field "name" is required');
    await worded(pod.name, name, () => need('checkpoint')(pod.id, name, { exit: !optBool(b, 'leaveRunning') }));
    res.status(201).json({ name, pod: podView(pods.get(pod.id)) });
  });

  // Start a pod that does not run from one of its checkpoints (Docker's `start --checkpoint`).
  router.post('/pods/:ref/checkpoints/:name/restore', async (req, res) => {
    onlyFields(bodyOf(req.body), []);
    const pod = pods.get(req.params.ref);
    try {
      await worded(pod.name, req.params.name, () => pods.start(pod.id, { checkpoint: req.params.name }));
    } catch (err) {
      if (err instanceof NotModifiedError) throw new NotModifiedError(`pod ${pod.name} is already running`);
      throw err;
    }
    res.json(podView(pods.get(pod.id)));
  });

  router.delete('/pods/:ref/checkpoints/:name', async (req, res) => {
    const pod = pods.get(req.params.ref);
    await worded(pod.name, req.params.name, () => need('removeCheckpoint')(pod.id, req.params.name));
    res.status(204).end();
  });

  router.post('/pods/:ref/checkpoints/:name/fork', async (req, res) => {
    const b = bodyOf(req.body);
    onlyFields(b, ['count', 'names']);
    const names = optStrings(b, 'names');
    const count = optInt(b, 'count', 1, MAX_FORKS) ?? names?.length ?? 1;
    const pod = pods.get(req.params.ref);
    const forks = await worded(pod.name, req.params.name, () =>
      need('fork')(pod.id, req.params.name, { count, ...(names ? { names } : {}) }),
    );
    res.status(201).json(forks.map(podView));
  });
}
