/**
 * The daemon's VM bookkeeping across restarts and faults (a VM helper that dies, a daemon that
 * restarts or is killed), with the real
 * compiled daemon, dockerode and real VMs (pool of one):
 *  - a container whose virtiofsd is killed exits 255 with State.Error naming virtiofsd and a
 *    die event; wait returns; exec answers an error instead of hanging (a daemon of its own
 *    that boots its VMs: a clone of a template has no virtiofsd);
 *  - containers survive a restart and answer at once (requests wait for their adoption);
 *  - after rm -f of every container and a SIGTERM, no VM process, mount or runtime directory
 *    of the daemon is left.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import { listVmProcesses, mountsUnder } from '../helpers/leaks';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(240_000);

const IMAGE = `${fixtureRegistry()}/busybox`;

let d: TestDaemon;
let api: Dockerode;

beforeAll(async () => {
  d = await startDaemon({ vmPoolSize: 1 });
  api = new Dockerode({ socketPath: d.socketPath });
  const s = (await api.pull(IMAGE)) as NodeJS.ReadableStream;
  await new Promise((resolve, reject) =>
    api.modem.followProgress(s, (err) => (err ? reject(err) : resolve(undefined))),
  );
});

afterAll(async () => {
  const execRoot = d.execRoot;
  await d.stop();
  for (const p of vmProcessesOf(execRoot)) process.kill(p.pid, 'SIGKILL');
});

function vmProcessesOf(execRoot: string): Array<{ pid: number; cmdline: string }> {
  return listVmProcesses({ jails: true }).filter((p) => p.cmdline.includes(`${execRoot}/`));
}

async function runSleeper(name: string, on: Dockerode = api): Promise<Dockerode.Container> {
  const c = await on.createContainer({ Image: IMAGE, name, Cmd: ['sleep', '1000'] });
  await c.start();
  return c;
}

async function execOut(c: Dockerode.Container, cmd: string[]): Promise<string> {
  const x = await c.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const s = await x.start({});
  const chunks: Buffer[] = [];
  s.on('data', (b: Buffer) => chunks.push(b));
  await new Promise((r) => s.on('end', r));
  // Multiplexed frames: 8-byte headers, then the payload.
  const all = Buffer.concat(chunks);
  let out = '';
  for (let i = 0; i + 8 <= all.length; ) {
    const n = all.readUInt32BE(i + 4);
    out += all.subarray(i + 8, i + 8 + n).toString();
    i += 8 + n;
  }
  return out;
}

test('a killed virtiofsd ends its container: exit 255, State.Error, die event, wait returns, exec errors', async () => {
  const d = await startDaemon({ vmPoolSize: 1, args: ['--vm-templates=false'] });
  try {
    const api = new Dockerode({ socketPath: d.socketPath });
    const s = (await api.pull(IMAGE)) as NodeJS.ReadableStream;
    await new Promise((resolve, reject) =>
      api.modem.followProgress(s, (err) => (err ? reject(err) : resolve(undefined))),
    );
    await expectKilledVirtiofsdEndsItsContainer(d, api);
  } finally {
    const execRoot = d.execRoot;
    await d.stop();
    for (const p of vmProcessesOf(execRoot)) process.kill(p.pid, 'SIGKILL');
  }
});

async function expectKilledVirtiofsdEndsItsContainer(d: TestDaemon, api: Dockerode): Promise<void> {
  const c = await runSleeper('vfs-victim', api);
  expect(await execOut(c, ['echo', 'alive'])).toBe('alive\n');
  const info = await c.inspect();
  const events = (await api.getEvents({
    filters: { container: [info.Id], event: ['die'] },
  })) as unknown as NodeJS.ReadableStream & { destroy(): void };
  const die = new Promise<Record<string, unknown>>((resolve) =>
    events.on('data', (b: Buffer) => resolve(JSON.parse(b.toString()) as Record<string, unknown>)),
  );
  const waited = c.wait();
  // The container's VM: the one whose share directory holds its rootfs mount.
  const mount = mountsUnder(path.join(d.execRoot, 'vms')).find((m) => m.includes(info.Id));
  expect(mount).toBeDefined();
  const dir = mount!.slice(0, mount!.indexOf('/share/'));
  const vfs = listVmProcesses().find((p) => /virtiofsd/.test(p.cmdline.split(' ')[0]) && p.cmdline.includes(`${dir}/`));
  expect(vfs).toBeDefined();
  const killedAt = Date.now();
  process.kill(vfs!.pid, 'SIGKILL');
  expect(await waited).toMatchObject({ StatusCode: 255 });
  expect(Date.now() - killedAt).toBeLessThan(5000);
  expect((await die).status).toBe('die');
  events.destroy();
  const after = await c.inspect();
  expect(after.State).toMatchObject({ Status: 'exited', ExitCode: 255, Running: false });
  expect(after.State.Error).toMatch(/virtiofsd/);
  // exec on the dead container: an error answer (409), not a hang.
  await expect(c.exec({ Cmd: ['true'] })).rejects.toMatchObject({ statusCode: 409 });
  // Nothing of that VM is left.
  expect(listVmProcesses({ jails: true }).filter((p) => p.cmdline.includes(`${dir}/`))).toEqual([]);
  await c.remove({ force: true });
}

test('containers survive a restart and answer at once; rm -f of all and SIGTERM leave nothing', async () => {
  const a = await runSleeper('survivor-a');
  const b = await runSleeper('survivor-b');
  const before = await Promise.all([a.inspect(), b.inspect()]);
  await d.restart();
  // Asked right after the first ping: each request waits for its container's adoption.
  expect(await Promise.all([execOut(a, ['echo', 'a']), execOut(b, ['echo', 'b'])])).toEqual(['a\n', 'b\n']);
  const after = await Promise.all([a.inspect(), b.inspect()]);
  for (let i = 0; i < 2; i++) {
    expect(after[i].State).toMatchObject({
      Status: 'running',
      StartedAt: before[i].State.StartedAt,
      Pid: before[i].State.Pid,
    });
  }
  expect(d.logs()).toMatch(/re-adopted container/);
  await a.remove({ force: true });
  await b.remove({ force: true });
  // SIGTERM, found by its command line (d.stop() would remove the roots before we look).
  const daemon = fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .find((n) => {
      try {
        return fs.readFileSync(`/proc/${n}/cmdline`, 'utf8').includes(`${d.dataRoot}\0`);
      } catch {
        return false;
      }
    });
  expect(daemon).toBeDefined();
  process.kill(Number(daemon), 'SIGTERM');
  for (let i = 0; i < 400 && fs.existsSync(`/proc/${daemon}`) && !/^[^)]*\) Z/.test(statOf(daemon!)); i++)
    await new Promise((r) => setTimeout(r, 50));
  expect(d.logs()).toMatch(/shut down in/);
  expect(vmProcessesOf(d.execRoot)).toEqual([]);
  expect(mountsUnder(d.execRoot)).toEqual([]);
  expect(mountsUnder(d.dataRoot)).toEqual([]);
  const vmsDir = path.join(d.execRoot, 'vms');
  expect(fs.existsSync(vmsDir) ? fs.readdirSync(vmsDir) : []).toEqual([]);
}, 240_000);

function statOf(pid: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return '';
  }
}
