/**
 * The agent watchdog on the in-memory VM fakes: a guest whose agent stops answering is said
 * unresponsive (a `vm_unresponsive` event), answers again with `vm_responsive`, and rm -f,
 * kill and stop of an unresponsive one destroy its VM without waiting on the agent.
 */
import { harness, type Harness } from './fakes';
import { FakeHypervisor } from '../../helpers/fake-vm/hypervisor';
import type { DaemonEvent } from '../../../src/pod/events';
import { NotFoundError } from '../../../src/errors';
import { mainContainer } from '../../../src/pod/types';

let h: Harness;
let seen: DaemonEvent[];
beforeEach(async () => {
  // Agent calls on the kill path would wait 3 s each: the test shows they are not waited on.
  h = await harness(new FakeHypervisor(), {
    watchdog: { intervalMs: 20, unresponsiveMs: 100 },
    agentTimeoutMs: 3000,
    killGraceMs: 3000,
  });
  seen = [];
  h.events.subscribe((e) => seen.push(e));
});
afterEach(async () => {
  h.hv.hangAgents = false;
  await h.cleanup();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const actions = () => seen.map((e) => e.action);

async function unresponsive(): Promise<string> {
  const r = await h.create({ Image: 'busybox', Cmd: ['ignore-term'] });
  await h.pods.start(r.id);
  await sleep(100);
  expect(actions()).not.toContain('vm_unresponsive');
  h.hv.hangAgents = true;
  for (let i = 0; i < 100 && !actions().includes('vm_unresponsive'); i++) await sleep(20);
  expect(actions()).toContain('vm_unresponsive');
  return r.id;
}

test('an agent that stops answering is reported once, and again when it answers', async () => {
  const id = await unresponsive();
  await sleep(200);
  expect(actions().filter((a) => a === 'vm_unresponsive')).toHaveLength(1);
  h.hv.hangAgents = false;
  for (let i = 0; i < 100 && !actions().includes('vm_responsive'); i++) await sleep(20);
  expect(actions()).toContain('vm_responsive');
  await h.pods.remove(id, { force: true });
});

test('rm -f of an unresponsive VM destroys it without waiting on the agent', async () => {
  const id = await unresponsive();
  const t0 = Date.now();
  await h.pods.remove(id, { force: true });
  expect(Date.now() - t0).toBeLessThan(1500);
  expect(() => h.pods.get(id)).toThrow(NotFoundError);
  expect(h.hv.running()).toHaveLength(0);
});

test('stop of an unresponsive VM kills it at once (137)', async () => {
  const id = await unresponsive();
  const t0 = Date.now();
  await h.pods.stop(id, 10);
  expect(Date.now() - t0).toBeLessThan(1500);
  expect(mainContainer(h.pods.get(id)).state).toMatchObject({ status: 'exited', exitCode: 137 });
  expect(h.hv.running()).toHaveLength(0);
});

test('kill of an unresponsive VM ends it at once', async () => {
  const id = await unresponsive();
  const t0 = Date.now();
  await h.pods.kill(id, 9);
  expect(Date.now() - t0).toBeLessThan(1500);
  expect(mainContainer(h.pods.get(id)).state).toMatchObject({ status: 'exited', exitCode: 137 });
});
