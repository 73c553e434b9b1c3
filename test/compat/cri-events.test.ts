/**
 * CRI GetContainerEvents and the sandbox's network counters through the real daemon and real
 * VMs, with our grpc-js test client (test/helpers/cri.ts), on a private CNI network of Debian's
 * plugins (bridge pvtcni41 on 10.99.41.0/24):
 *
 *  - two clients stream the events while a sandbox and a busybox container in it go through
 *    create, start, stop and removal: each sees, in order, the sandbox's CREATED and STARTED,
 *    the container's CREATED, STARTED, STOPPED and DELETED, then the sandbox's STOPPED and
 *    DELETED, with the CRI ids, growing created_at, and the statuses containerd sends;
 *  - a client that cancels stops getting events, the other keeps them;
 *  - PodSandboxStats' linux.network: eth0's counters on the host grow with the pod's traffic
 *    (pings to the bridge's gateway);
 *  - nothing left: no VM, CNI namespace or bridge.
 */
import * as path from 'node:path';
import { startCriTestDaemon, stopCriTestDaemon, type CriTestDaemon } from '../helpers/cri-daemon';
import { criEventStream, type CriClient, type CriEventStream } from '../helpers/cri';
import { fixtureRegistry } from '../fixtures/registry';
import type { TestCniNet } from '../privileged/net/helpers/cni-net';

jest.setTimeout(300_000);

const REG = fixtureRegistry();
const BUSYBOX = `${REG}/busybox:latest`;

let h: CriTestDaemon;
let cri: CriClient;
let criSock: string;
let dir: string;
let t: TestCniNet;

beforeAll(async () => {
  h = await startCriTestDaemon('podvisor-cri-ev-', 41, BUSYBOX);
  ({ dir, net: t, cri } = h);
  criSock = h.criSock;
});

afterAll(() => stopCriTestDaemon(h && { ...h, cri }));

async function until(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

type SandboxStats = {
  stats: {
    linux: {
      network?: {
        timestamp: string;
        default_interface: { name: string; rx_bytes: { value: string }; tx_bytes: { value: string } };
      };
    };
  };
};

describe('CRI GetContainerEvents and sandbox network stats', () => {
  it('streams the lifecycle of a sandbox and its container to every client, in order, with the statuses', async () => {
    const a = criEventStream(criSock);
    const b = criEventStream(criSock);
    const late = criEventStream(criSock);
    let sid = '';
    let cid = '';
    try {
      const started = BigInt(Date.now()) * 1_000_000n;
      const config = {
        metadata: { name: 'ev', uid: 'uid-ev', namespace: 'default', attempt: 0 },
        hostname: 'ev-host',
        log_directory: path.join(dir, 'logs'),
        labels: { app: 'ev' },
      };
      sid = (await cri.runtime<{ pod_sandbox_id: string }>('RunPodSandbox', { config }, 240_000)).pod_sandbox_id;
      cid = (
        await cri.runtime<{ container_id: string }>('CreateContainer', {
          pod_sandbox_id: sid,
          config: {
            metadata: { name: 'app', attempt: 0 },
            image: { image: BUSYBOX },
            command: ['sleep', '3600'],
            log_path: 'app.log',
          },
          sandbox_config: config,
        })
      ).container_id;
      await cri.runtime('StartContainer', { container_id: cid }, 240_000);
      await until('the container STARTED event', () =>
        a.events.some((e) => e.container_id === cid && e.container_event_type === 'CONTAINER_STARTED_EVENT'),
      );

      // The sandbox's network counters, read on the host, grow with the pod's traffic.
      const net = async () => {
        const s = await cri.runtime<SandboxStats>('PodSandboxStats', { pod_sandbox_id: sid });
        const n = s.stats.linux.network;
        expect(n?.default_interface.name).toBe('eth0');
        return { rx: Number(n?.default_interface.rx_bytes.value), tx: Number(n?.default_interface.tx_bytes.value) };
      };
      const before = await net();
      const ping = await cri.runtime<{ exit_code: number; stdout: Buffer }>(
        'ExecSync',
        { container_id: cid, cmd: ['ping', '-c', '5', '-s', '1000', `${t.prefix}.1`], timeout: 60 },
        90_000,
      );
      expect(ping.exit_code).toBe(0);
      const after = await net();
      // Five echo requests and five replies of 1000 bytes of payload (+28 of ICMP and IP, +14 of Ethernet).
      expect(after.tx - before.tx).toBeGreaterThanOrEqual(5 * 1042);
      expect(after.rx - before.rx).toBeGreaterThanOrEqual(5 * 1042);
      expect(after.tx - before.tx).toBeLessThan(5 * 1042 + 20_000);

      // A client that goes gets nothing more; the others keep streaming.
      late.close();
      const lateCount = late.events.length;

      await cri.runtime('StopContainer', { container_id: cid, timeout: 10 }, 120_000);
      await cri.runtime('RemoveContainer', { container_id: cid }, 120_000);
      await cri.runtime('StopPodSandbox', { pod_sandbox_id: sid }, 120_000);
      await cri.runtime('RemovePodSandbox', { pod_sandbox_id: sid }, 120_000);
      const ended = BigInt(Date.now()) * 1_000_000n;

      const ours = (s: CriEventStream) => s.events.filter((e) => e.container_id === sid || e.container_id === cid);
      const expected = [
        [sid, 'CONTAINER_CREATED_EVENT'],
        [sid, 'CONTAINER_STARTED_EVENT'],
        [cid, 'CONTAINER_CREATED_EVENT'],
        [cid, 'CONTAINER_STARTED_EVENT'],
        [cid, 'CONTAINER_STOPPED_EVENT'],
        [cid, 'CONTAINER_DELETED_EVENT'],
        [sid, 'CONTAINER_STOPPED_EVENT'],
        [sid, 'CONTAINER_DELETED_EVENT'],
      ];
      await until(
        'the sandbox DELETED event',
        () => ours(a).length >= expected.length && ours(b).length >= expected.length,
      );
      for (const s of [a, b]) {
        const evs = ours(s);
        expect(evs.map((e) => [e.container_id, e.container_event_type])).toEqual(expected);
        const times = evs.map((e) => BigInt(e.created_at));
        for (let i = 1; i < times.length; i++) expect(times[i] > times[i - 1]).toBe(true);
        expect(times[0] >= started && times[times.length - 1] <= ended).toBe(true);
      }
      expect(ours(b).map((e) => e.created_at)).toEqual(ours(a).map((e) => e.created_at));

      const evs = ours(a);
      // The container's STARTED: the sandbox ready, the container among its statuses.
      expect(evs[3].pod_sandbox_status).toMatchObject({ id: sid, state: 'SANDBOX_READY', metadata: { name: 'ev' } });
      expect(evs[3].containers_statuses).toContainEqual(
        expect.objectContaining({ id: cid, metadata: { name: 'app', attempt: 0 } }),
      );
      // The container's DELETED: no longer among the sandbox's containers.
      expect(evs[5].containers_statuses).toEqual([]);
      // The sandbox's DELETED: its status is gone.
      expect(evs[7].pod_sandbox_status).toBeNull();

      expect(late.events.length).toBe(lateCount);
      expect(lateCount).toBeGreaterThanOrEqual(4);
      expect(a.ended).toBeUndefined();
    } finally {
      for (const s of [a, b, late]) s.close();
    }
  });
});
