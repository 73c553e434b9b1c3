/**
 * A native pod spec -> the pod layer's PodSpec. A spec is a pod file (a Kubernetes v1 Pod or
 * a hyper podfile, as a JSON object or as YAML/JSON text: ./podfile.ts) or the native API's
 * own single-container spec:
 *
 *   { "name": "web", "image": "busybox", "command": ["httpd", "-f"], "env": ["A=b"],
 *     "workdir": "/", "tty": false, "labels": {"k": "v"}, "network": "bridge",
 *     "ports": ["8080:80"] }
 *
 * The pod is made through the Docker create translation, with the Docker front end's data
 * kept beside it, so the pod's container is also a Docker container (`docker ps`, `logs`,
 * `exec`, `inspect`, `stop`, `port` work on it), labelled with its pod's name and API. Its
 * network is a `docker run`'s: the default bridge, or the one `network` names (a user
 * network, or "none" for loopback only), with `ports` published as `-p` publishes them.
 */
import * as crypto from 'node:crypto';
import { InvalidArgumentError } from '../../errors';
import { parseCreateBody, translateCreate, validateContainerName } from '../../translate/create';
import type { CreateBody } from '../../translate/docker-schema';
import type { NativeServices } from './services';

import { dockerPortsOfSpecs } from '../../translate/podspec-ports';
import {
  API_LABEL,
  createOptions,
  isPodFileObject,
  manifestOf,
  podFromManifest,
  POD_LABEL,
  type MadePod,
} from './podfile';

export { API_LABEL, POD_LABEL, type MadePod };

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
};

/** A checked native spec. */
export interface NativeSpec {
  name?: string;
  image: string;
  command?: string[];
  env?: string[];
  workdir?: string;
  tty?: boolean;
  labels?: Record<string, string>;
  /** The network to join (a name or id; default: the default bridge; "none": loopback only). */
  network?: string;
  /** Ports to publish, as `docker run -p` takes them. */
  ports?: string[];
}

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

/**
 * Make the pod layer's spec from `body` (see the module comment): pod file text (a YAML
 * request body), a pod file object, or the single-container spec.
 */
export async function podFromSpec(body: unknown, s: NativeServices): Promise<MadePod> {
  if (typeof body === 'string' || isPodFileObject(body)) return podFromManifest(manifestOf(body as string | object), s);
  const n = checkSpec(body);
  const id = crypto.randomBytes(32).toString('hex');
  const name = n.name?.replace(/^\//, '');
  const ports = dockerPortsOfSpecs(n.ports ?? []);
  const create = {
    Image: n.image,
    ...(n.command ? { Cmd: n.command } : {}),
    ...(n.env ? { Env: n.env } : {}),
    ...(n.workdir ? { WorkingDir: n.workdir } : {}),
    Tty: n.tty === true,
    OpenStdin: n.tty === true,
    Labels: { ...(n.labels ?? {}), [POD_LABEL]: name ?? id.slice(0, 12), [API_LABEL]: 'native' },
    ...(ports.ExposedPorts ? { ExposedPorts: ports.ExposedPorts } : {}),
    HostConfig: {
      ...(n.network ? { NetworkMode: n.network } : {}),
      ...(ports.PortBindings ? { PortBindings: ports.PortBindings } : {}),
    },
  };
  const request = parseCreateBody(create as unknown as CreateBody, s.hostCpus);
  const image = await s.images.resolve(n.image);
  const t = translateCreate(request, image, id, await createOptions(s));
  return { spec: t.spec, name, frontend: t.frontend };
}
