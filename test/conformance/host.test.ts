/**
 * The agent conformance suite (agent-suite.ts) against the real C agent in host test mode
 * (`podvisor-agent --ctl --io --share`, no VM). It runs in a network namespace of its own
 * (`unshare -n`) where a tap device named eth0 stands in for a VM's NIC, because the agent
 * refuses to touch interfaces in the host's namespace; lo is brought up there as the VM's
 * init does. Host test mode has no virtio-fs device, so the volume-share case cannot run.
 * Needs root (namespaces, mounts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentClient } from '../../src/vm/agent/client';
import { randomMac } from '../../src/vm/devices/nic';
import { buildAgent, makeBusyboxRootfs } from '../helpers/agent-fixtures';
import { connectAndLeaveMidFrame } from '../helpers/agent-wire';
import { mountsUnder } from '../helpers/leaks';
import { agentConformance, type AgentLacks } from './agent-suite';

jest.setTimeout(60_000);

/** Whether this process has CAP_SYS_RESOURCE (capability 24), which lowering an oom_score_adj needs. */
function hasSysResource(): boolean {
  const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  return (BigInt(`0x${eff}`) & (1n << 24n)) !== 0n;
}

const CANNOT: AgentLacks = {
  volumeShare: 'host test mode has no virtio-fs device to take a volume share from',
  upperDisk: 'host test mode has no virtio-blk device to hold an upper disk',
  diskFilesystem: 'host test mode has no virtio-blk device to hold an upper disk',
  // The agent makes cgroups only as PID 1 of a VM, where it mounts cgroup2 itself; this
  // host is cgroup v1 hybrid (its cgroup2 at /sys/fs/cgroup/unified is the host's own).
  deviceCgroup:
    'host test mode makes no cgroups (only the VM agent mounts cgroup2): no cgroup to attach a device program to',
  ...(hasSysResource()
    ? {}
    : { lowerOomScore: 'this host gives the tests no CAP_SYS_RESOURCE, which lowering an oom_score_adj needs' }),
};

agentConformance('host-mode agent', CANNOT, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-conf-host-'));
  const bin = buildAgent(path.join(tmp, 'bin'));
  const share = path.join(tmp, 'share');
  fs.mkdirSync(share);
  const ctl = path.join(tmp, 'a.ctl');
  const io = path.join(tmp, 'a.io');
  const mac = randomMac();
  const script = `ip tuntap add dev eth0 mode tap && ip link set eth0 address ${mac} && ip link set lo up && exec "$0" --ctl "$1" --io "$2" --share "$3"`;
  const proc: ChildProcess = spawn('unshare', ['-n', 'sh', '-c', script, bin, ctl, io, share], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  proc.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  const exited = new Promise((r) => proc.once('exit', r));
  let client = await AgentClient.connect({ ctlPath: ctl, ioPath: io, timeoutMs: 5000 }).catch((e: Error) => {
    throw new Error(`${e.message}; agent said: ${log}`);
  });
  return {
    get agent() {
      return client;
    },
    rootfs: (id) => {
      const rel = `containers/${id}/rootfs`;
      makeBusyboxRootfs(path.join(share, rel));
      return rel;
    },
    reconnect: async () => {
      client.close();
      client = await AgentClient.connect({ ctlPath: ctl, ioPath: io, timeoutMs: 5000 });
      return client;
    },
    reconnectMidFrame: async (partial, missing) => {
      client.close();
      // Each connection is a socket of its own here, so the agent sees the old one end however
      // soon the new one comes.
      const old = await connectAndLeaveMidFrame(ctl, io, partial, missing);
      for (const s of old) s.destroy();
      client = await AgentClient.connect({ ctlPath: ctl, ioPath: io, timeoutMs: 5000 });
      return client;
    },
    nic: { name: 'eth0', mac },
    close: async () => {
      await client.shutdown();
      client.close();
      await exited;
      expect(proc.exitCode).toBe(0);
      expect(mountsUnder(tmp)).toEqual([]);
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
});
