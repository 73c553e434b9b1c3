/**
 * The shapes a create passes through, front by front, counted by walking each front's
 * creation path over the in-memory pod layer with every shape-making function watched (a
 * jest spy that calls through): Docker's JSON decoded (CreateBody), its parse (CreateRequest,
 * with the full HostConfig), the neutral request (ContainerRequest: checked for the CRI,
 * native and builder fronts, made from the parsed body by the Docker front), and the one
 * translation into the pod (PodSpec). The shapes up to the pod are the creation path; nothing
 * follows it: a pod made from a neutral request keeps no Docker record (its Docker view is
 * rendered from the PodSpec when shown: src/api/v1.41/docker/pod-view.ts), and a Docker
 * create's record is made from its parsed body, beside its neutral request.
 *
 * Besides the walk, the neutral translation's imports (the file graph of src, type-only
 * imports included) reach none of the Docker front's create modules.
 */
import * as path from 'node:path';
import { harness, type Harness } from '../pod/fakes';
import { createCriContainer, createCriSandbox } from '../../../src/api/cri/create-request';
import * as goDecode from '../../../src/util/go-decode';
import * as createBody from '../../../src/api/v1.41/docker/create-body';
import * as dockerRequest from '../../../src/api/v1.41/docker/docker-request';
import * as dockerTypes from '../../../src/api/v1.41/docker/docker-types';
import * as requestCheck from '../../../src/translate/request/request-check';
import * as requestPod from '../../../src/translate/request/request-pod';
import { CreateBodySchema, type CreateBody } from '../../../src/api/v1.41/docker/docker-schema';
import { fileGraph } from '../../helpers/import-graph';
import type { PodEngine } from '../../../src/engine/engine';
import { createDockerContainer } from '../../../src/api/v1.41/create/docker-front';

/** Each watched function and the shape it makes (or, for the check, takes). */
const WATCHED: Array<[Record<string, unknown>, string, string]> = [
  [goDecode, 'decodeBody', 'CreateBody'],
  [createBody, 'parseCreateBody', 'CreateRequest'],
  [dockerTypes, 'normaliseHostConfig', 'HostConfig'],
  [requestCheck, 'checkContainerRequest', 'ContainerRequest'],
  [dockerRequest, 'completeDockerRequest', 'ContainerRequest'],
  [requestPod, 'translateContainerRequest', 'PodSpec'],
];

/** What a watched function was called with and gave, by the shape it makes. */
type Made = Record<string, { args: unknown[][]; results: unknown[] }>;

/**
 * The shapes `run` passes through, in the order they are made: the path up to the pod, then
 * the display; and what each maker was called with and gave.
 */
async function walk(run: () => Promise<unknown>): Promise<{ path: string[]; display: string[]; made: Made }> {
  const spies = WATCHED.map(([mod, name, shape]) => ({
    shape,
    spy: jest.spyOn(mod as Record<string, (...a: unknown[]) => unknown>, name),
  }));
  let made: string[];
  const calls: Made = {};
  try {
    await run();
  } finally {
    // Read before the spies are restored, which clears what they recorded.
    made = spies
      .flatMap((s) => s.spy.mock.invocationCallOrder.map((order) => ({ order, shape: s.shape })))
      .sort((a, b) => a.order - b.order)
      .map((m) => m.shape);
    for (const s of spies) {
      const c = (calls[s.shape] ??= { args: [], results: [] });
      c.args.push(...s.spy.mock.calls);
      c.results.push(...s.spy.mock.results.map((r) => r.value));
      s.spy.mockRestore();
    }
  }
  const pod = made.indexOf('PodSpec');
  return { path: made.slice(0, pod + 1), display: made.slice(pod + 1), made: calls };
}

let h: Harness;
let engine: PodEngine;
beforeEach(async () => {
  h = await harness();
  engine = h.engine();
});
afterEach(async () => {
  for (const r of h.pods.list()) await h.pods.remove(r.id, { force: true });
  await h.cleanup();
});

const sandbox = {
  name: 'k8s_POD_web_default_uid-1_0',
  image: 'busybox',
  hostname: 'web',
  pod: { namespace: 'default', name: 'web', uid: 'uid-1' },
  portMappings: [],
  labels: {},
};

const container = (sandboxId: string) => ({
  sandboxId,
  name: 'k8s_app_web_default_uid-1_0',
  image: 'busybox',
  command: ['sleep'],
  args: ['9'],
  workingDir: '',
  env: [],
  mounts: [{ containerPath: '/m', hostPath: '/tmp/x/a:b', readonly: false }],
  labels: {},
  logPath: '',
  tty: false,
  stdin: false,
  stdinOnce: false,
  podPid: false,
  supplementalGroups: [],
  runAsUsername: '',
});

describe('each front reaches its pod through its own request and the neutral one, or Docker\u2019s', () => {
  test('a CRI sandbox and container: ContainerRequest -> PodSpec; no Docker body, parse or HostConfig before the pod', async () => {
    const sb = await walk(() => createCriSandbox(engine, sandbox));
    expect(sb.path).toEqual(['ContainerRequest', 'PodSpec']);
    const s = h.pods.list()[0];
    const c = await walk(() => createCriContainer(engine, container(s.id)));
    expect(c.path).toEqual(['ContainerRequest', 'PodSpec']);
    // No Docker record or HostConfig is made from the request, after the pod either.
    expect(c.display).toEqual([]);
    expect(h.pods.list().map((r) => r.frontend)).toEqual([undefined, undefined]);
  });

  test('the native spec and a build step: ContainerRequest -> PodSpec', async () => {
    const native = await walk(() =>
      engine.createNative({ kind: 'spec', spec: { image: 'busybox', command: ['sleep', '9'], network: 'none' } }),
    );
    expect(native.path).toEqual(['ContainerRequest', 'PodSpec']);
    const step = await walk(() => engine.createBuildStep({ image: 'busybox', cmd: ['true'], env: [] }));
    expect(step.path).toEqual(['ContainerRequest', 'PodSpec']);
  });

  test('a Docker create, as its front hands it over: CreateBody -> CreateRequest (with its HostConfig) -> ContainerRequest (its container, checked at the door) -> ContainerRequest (completed from the one merge) -> PodSpec', async () => {
    let parsed: createBody.CreateRequest | undefined;
    const docker = await walk(() => {
      const body = goDecode.decodeBody<CreateBody>(CreateBodySchema, {
        Image: 'busybox',
        Cmd: ['sleep', '9'],
        HostConfig: { Binds: ['/tmp/x:/x:ro'], Ulimits: [{ Name: 'nofile', Soft: 10, Hard: 20 }] },
      });
      parsed = createBody.parseCreateBody(body, 2);
      return createDockerContainer(engine, parsed);
    });
    expect(docker.path).toEqual([
      'CreateBody',
      'CreateRequest',
      'HostConfig',
      'ContainerRequest',
      'ContainerRequest',
      'PodSpec',
    ]);
    expect(docker.display).toEqual([]);
    // The door checks the container's settings (no Docker words), and the Docker front
    // completes them from the parsed body and the door's merge; the record is made from the
    // parsed body beside the neutral request: its HostConfig is the body's, as dockerd keeps it.
    const made = docker.made.ContainerRequest;
    const checked = made.args[0][0];
    expect(JSON.stringify(checked)).not.toMatch(/HostConfig|Binds|Ulimits|:\/x:ro/);
    expect(made.args[1][0]).toBe(parsed);
    expect(made.args[1][1]).toBe(checked);
    const { request, record } = made.results[1] as dockerRequest.DockerRequest;
    expect(JSON.stringify(request)).not.toMatch(/HostConfig|Binds|Ulimits|:\/x:ro/);
    expect(docker.made.PodSpec.args[0][0]).toBe(request);
    // The translation takes the door's merge, made once, rather than merging again.
    expect(docker.made.PodSpec.args[0][4]).toBe(made.args[1][2]);
    expect(h.pods.list()[0].frontend).toEqual(record);
    expect(record.hostConfig.Binds).toEqual(['/tmp/x:/x:ro']);
    expect(record.hostConfig.Ulimits).toEqual([{ Name: 'nofile', Soft: 10, Hard: 20 }]);
  });
});

describe("the neutral translation's imports", () => {
  const src = path.resolve(__dirname, '../../../src');
  /** The Docker create's own modules: its body's schema, its parse, its request and record, its part at the door. */
  const DOCKER_CREATE = [
    'api/v1.41/docker/docker-schema.ts',
    'api/v1.41/docker/create-body.ts',
    'api/v1.41/docker/docker-request.ts',
    'api/v1.41/create/docker-front.ts',
  ];

  /** Every file of src that `start` reaches through its imports. */
  function reach(start: string): Set<string> {
    const edges = fileGraph(src);
    const seen = new Set([start]);
    const todo = [start];
    while (todo.length) {
      const f = todo.pop()!;
      for (const e of edges) {
        if (e.from !== f || seen.has(e.to)) continue;
        seen.add(e.to);
        todo.push(e.to);
      }
    }
    return seen;
  }

  test.each([
    'translate/request/request-pod.ts',
    'translate/request/request-check.ts',
    'translate/request/image-merge.ts',
    'translate/request/container-request.ts',
    'engine/door.ts',
  ])("%s reaches none of the Docker create's modules", (file) => {
    expect(DOCKER_CREATE.filter((f) => reach(file).has(f))).toEqual([]);
  });

  test('the search finds them from the Docker entry', () => {
    const entry = reach('api/v1.41/containers.ts');
    expect(DOCKER_CREATE.filter((f) => entry.has(f))).toEqual(DOCKER_CREATE);
  });
});
