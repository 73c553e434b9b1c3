/**
 * The Docker view of a pod of several containers (src/api/v1.41/pod-containers.ts), over the
 * in-memory pod layer and a real HTTP server, with dockerode as the client: each container is
 * listed, inspected and reached by its own id or POD.CONTAINER name; what is the pod's acts on
 * the whole pod; attach to another than the main container is refused; top lists the
 * container named.
 */
import * as http from 'node:http';
import * as path from 'node:path';
import Docker from 'dockerode';
import { createApiApp } from '../../../src/api/v1.41/server';
import { installHijack } from '../../../src/api/v1.41/hijack';
import { dockerContainerView } from '../../../src/api/v1.41/pod-containers';
import { mainContainer, type PodSpec } from '../../../src/pod/types';
import { harness, type Harness } from '../pod/fakes';

let h: Harness;
let server: http.Server;
let docker: Docker;
const SIDE = 'e'.repeat(64);

beforeEach(async () => {
  h = await harness();
  const pods = dockerContainerView(h.pods);
  const app = createApiApp({
    system: { version: '0.0.0-test', dataRoot: h.root, accel: 'tcg' },
    containers: {
      pods,
      engine: h.engine(pods),
      images: h.images,
      events: h.events,
      vmDefaults: { memoryMiB: 256, cpus: 1 },
      hostCpus: 2,
    },
  });
  server = http.createServer(app);
  installHijack(server, app);
  const sock = path.join(h.root, 'api.sock');
  await new Promise<void>((r) => server.listen(sock, r));
  docker = new Docker({ socketPath: sock });
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await h.cleanup();
});

/** A running pod "duo": main container `sleep 100` (the pod's id), container "side" `sleep 200`. */
async function duo(): Promise<string> {
  const one = await h.create({ Image: 'busybox', Cmd: ['sleep', '100'], Labels: { 'io.podvisor.pod': 'duo' } });
  await h.pods.remove(one.id, { force: true });
  const spec = structuredClone({ ...one.sandbox.spec, containers: [mainContainer(one).spec] }) as PodSpec;
  spec.id = 'f'.repeat(64);
  spec.containers = [
    { ...spec.containers[0], id: spec.id, name: 'main' },
    { ...spec.containers[0], id: SIDE, name: 'side', args: ['sleep', '200'] },
  ];
  await h.pods.create(spec, 'duo', one.frontend);
  await h.pods.start('duo');
  return spec.id;
}

test('each container is a docker ps line with its own id, name, command and the container label', async () => {
  const id = await duo();
  const ps = await docker.listContainers();
  expect(
    ps.map((c) => [c.Id, c.Names[0], c.Command, c.Labels['io.podvisor.container'], c.Labels['io.podvisor.pod']]).sort(),
  ).toEqual([
    [SIDE, '/duo.side', 'sleep 200', 'side', 'duo'],
    [id, '/duo', 'sleep 100', 'main', 'duo'],
  ]);
  const byName = await docker.getContainer('duo.side').inspect();
  expect(byName).toMatchObject({
    Id: SIDE,
    Name: '/duo.side',
    Path: 'sleep',
    Args: ['200'],
    State: { Running: true },
    Config: { Cmd: ['200'] },
  });
  expect((await docker.getContainer(SIDE.slice(0, 10)).inspect()).Name).toBe('/duo.side');
  expect((await docker.getContainer('duo').inspect()).Id).toBe(id);
  expect((await docker.info()).Containers).toBe(2);
});

test('top lists the processes of the container named, each with the PID its inspect shows', async () => {
  await duo();
  for (const [name, cmd] of [
    ['duo', 'sleep 100'],
    ['duo.side', 'sleep 200'],
  ]) {
    const t = (await docker.getContainer(name).top()) as { Titles: string[]; Processes: string[][] };
    expect(t.Titles).toEqual(['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    const pid = String((await docker.getContainer(name).inspect()).State.Pid);
    expect(t.Processes.map((p) => [p[1], p[7]])).toEqual([[pid, cmd]]);
  }
});

test('stop of any container stops the pod; attach and rename of another than the main one are refused; unknown names stay 404', async () => {
  await duo();
  await expect(docker.getContainer('duo.side').attach({ stream: true, stdout: true })).rejects.toMatchObject({
    statusCode: 409,
  });
  await expect(docker.getContainer('duo.side').rename({ name: 'renamed' })).rejects.toMatchObject({ statusCode: 409 });
  await expect(docker.getContainer('duo.nope').inspect()).rejects.toMatchObject({ statusCode: 404 });
  await docker.getContainer('duo.side').stop({ t: 0 });
  expect(h.pods.isRunning('duo')).toBe(false);
  const all = await docker.listContainers({ all: true });
  expect(all.map((c) => `${c.Names[0]} ${c.State}`).sort()).toEqual(['/duo exited', '/duo.side exited']);
  // prune walks both containers of the stopped pod: the pod goes once, the answer is 200.
  const pruned = await docker.pruneContainers();
  expect(pruned.ContainersDeleted).toHaveLength(1);
  expect(await docker.listContainers({ all: true })).toEqual([]);
});
