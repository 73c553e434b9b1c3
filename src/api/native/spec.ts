/**
 * A native create's body, decoded into the creation service's request (src/engine): a pod
 * file (a Kubernetes v1 Pod or a hyper podfile, as a JSON object or as YAML/JSON text:
 * ./podfile.ts), as the neutral pod request, or the native API's own single-container spec:
 *
 *   { "name": "web", "image": "busybox", "command": ["httpd", "-f"], "env": ["A=b"],
 *     "workdir": "/", "tty": false, "labels": {"k": "v"}, "network": "bridge",
 *     "ports": ["8080:80"], "cgroupParent": "/batch" }
 *
 * The creation service makes the pod, also a Docker container (`docker ps`, `logs`, `exec`,
 * `inspect`, `stop`, `port` work on it), labelled with its pod's name and API
 * (src/engine/native.ts).
 */
import { InvalidArgumentError } from '../../errors';
import { validateContainerName } from '../../translate/request/policy/container-name';
import type { NativeCreateRequest, NativeSpec } from '../../engine/service';
import { isPodFileObject, podRequestOfFile } from './podfile';

export type { NativeSpec };
export { API_LABEL, POD_LABEL } from '../../engine/native';

/** The fields of the native single-container spec, and their types. */
const FIELDS: Record<string, 'string' | 'strings' | 'boolean' | 'labels'> = {
  name: 'string',
  image: 'string',
  command: 'strings',
  env: 'strings',
  workdir: 'string',
  tty: 'boolean',
  labels: 'labels',
  network: 'string',
  ports: 'strings',
  cgroupParent: 'string',
};

/** Check a spec's shape: every field known and of its type (an unknown field is named). */
export function checkSpec(v: unknown): NativeSpec {
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new InvalidArgumentError('spec must be a JSON object, e.g. {"image": "busybox", "command": ["sleep", "60"]}');
  const o = v as Record<string, unknown>;
  for (const [k, val] of Object.entries(o)) {
    const t = FIELDS[k];
    if (!t) throw new InvalidArgumentError(`spec: unknown field "${k}" (known: ${Object.keys(FIELDS).join(', ')})`);
    const ok =
      t === 'string'
        ? typeof val === 'string'
        : t === 'boolean'
          ? typeof val === 'boolean'
          : t === 'strings'
            ? Array.isArray(val) && val.every((x) => typeof x === 'string')
            : !!val &&
              typeof val === 'object' &&
              !Array.isArray(val) &&
              Object.values(val).every((x) => typeof x === 'string');
    if (!ok)
      throw new InvalidArgumentError(
        `spec: field "${k}" must be ${t === 'strings' ? 'an array of strings' : t === 'labels' ? 'an object of strings' : `a ${t}`}`,
      );
  }
  if (typeof o.image !== 'string' || !o.image)
    throw new InvalidArgumentError('spec: "image" is required (e.g. "busybox")');
  if (o.name !== undefined) validateContainerName(o.name as string);
  if (typeof o.network === 'string' && (o.network === '' || o.network.startsWith('container:'))) {
    throw new InvalidArgumentError(
      `spec: field "network" must name a network ("bridge", a user network, or "none")${o.network ? ": a pod cannot join another pod's network (put the containers in one pod file)" : ''}`,
    );
  }
  return o as unknown as NativeSpec;
}

/** The creation service's request for a create body (see the module comment); 400 for a bad one. */
export function nativeRequestOf(body: unknown): NativeCreateRequest {
  if (typeof body === 'string' || isPodFileObject(body))
    return { kind: 'podfile', pod: podRequestOfFile(body as string | object) };
  return { kind: 'spec', spec: checkSpec(body) };
}
