/**
 * A podvisord serving the CRI on a private CNI bridge of Debian's plugins, as the CRI compat
 * tests run it: its sandbox image is the fixture busybox, pulled before the first test.
 *
 *   let h: CriTestDaemon;
 *   beforeAll(async () => { h = await startCriTestDaemon('podvisor-cri-x-', 42, BUSYBOX); });
 *   afterAll(() => stopCriTestDaemon(h));   // also after a failed start: it stops what there is
 *
 * Each test file takes a CNI network number of its own (bridge pvtcni<n>, 10.99.<n>.0/24), so
 * that two files running at once never share a bridge or its firewall rules.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { criClient, type CriClient } from './cri';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from './daemon';
import { DEBIAN_CNI_BIN, iptablesLines, makeCniNet, type TestCniNet } from '../privileged/net/helpers/cni-net';

/** What startCriTestDaemon made; `cri` may be replaced (a new client after a daemon restart). */
export interface CriTestDaemon {
  /** Temp directory of the test file (the CRI socket is `cri.sock` in it). */
  dir: string;
  criSock: string;
  net: TestCniNet;
  daemon: TestDaemon;
  cri: CriClient;
}

/** Start the daemon on CNI network `netIndex`, connect a client, pull `sandboxImage`. */
export async function startCriTestDaemon(
  tmpPrefix: string,
  netIndex: number,
  sandboxImage: string,
): Promise<CriTestDaemon> {
  const h: Partial<CriTestDaemon> = {};
  h.dir = fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
  h.criSock = path.join(h.dir, 'cri.sock');
  h.net = makeCniNet(netIndex);
  lastStarted = h;
  h.daemon = await startDaemon({
    args: [
      '--cri-host',
      `unix://${h.criSock}`,
      '--cni-conf-dir',
      h.net.confDir,
      '--cni-bin-dir',
      DEBIAN_CNI_BIN,
      '--cri-sandbox-image',
      sandboxImage,
    ],
  });
  h.cri = criClient(h.criSock);
  await h.cri.image('PullImage', { image: { image: sandboxImage } });
  return h as CriTestDaemon;
}

let lastStarted: Partial<CriTestDaemon> | undefined;

/**
 * Remove what a failed test left (the daemon keeps running pods' VMs for its successor), stop
 * the daemon leaving nothing, remove the CNI network, and assert that no bridge or firewall rule
 * of it is left. Given undefined (startCriTestDaemon threw), it stops what that start made.
 */
export async function stopCriTestDaemon(h: CriTestDaemon | undefined): Promise<void> {
  const s: Partial<CriTestDaemon> | undefined = h ?? lastStarted;
  lastStarted = undefined;
  if (!s) return;
  if (s.cri) {
    const left = await s.cri
      .runtime<{ items: Array<{ id: string }> }>('ListPodSandbox', {})
      .catch(() => ({ items: [] }));
    for (const sb of left.items)
      await s.cri.runtime('RemovePodSandbox', { pod_sandbox_id: sb.id }, 120_000).catch(() => undefined);
  }
  s.cri?.close();
  if (s.daemon) await stopDaemonLeavingNothing(s.daemon);
  s.net?.cleanup();
  if (s.dir) fs.rmSync(s.dir, { recursive: true, force: true });
  if (!s.net) return;
  const links = (
    JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as Array<{ ifname: string }>
  ).map((l) => l.ifname);
  expect(links.filter((l) => l === s.net!.name)).toEqual([]);
  expect([...iptablesLines('nat', s.net.name), ...iptablesLines('nat', `${s.net.prefix}.`)]).toEqual([]);
  expect(iptablesLines('filter', `${s.net.prefix}.`)).toEqual([]);
}
