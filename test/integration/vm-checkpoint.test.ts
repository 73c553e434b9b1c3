/**
 * The VM half of a checkpoint (issue 44), in real QEMU (TCG here): a clone of a template saved
 * with ALL its RAM (saveState allRam: no x-ignore-shared) restores into a new QEMU whose RAM
 * is its own file (not the template's), after the template is gone, and its agent answers on a
 * fresh connection with the guest's state as it was saved (a NIC address set before the save).
 * A file behind the upper disk is saved with it as a sparse copy taken while the VM is stopped,
 * and the copy is put behind the new QEMU's disk (blockdev-add, blockdev-reopen) before the
 * state loads, which QEMU accepts while it waits for its incoming state.
 * The guest here has no 9p export mounted (it is not activated): a running container's VM
 * always has one, which QEMU refuses to save (src/pod/checkpoints/checkpoints.ts). Prints the save and
 * restore times and the checkpoint's sizes. Nothing may be left: no QEMU, no directory.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { AgentClient } from '../../src/vm/agent/client';
import { defaultGuestImages } from '../../src/vm/guest-images';
import { normalizeRequest, planDevices } from '../../src/vm/devices';
import { locateQemuTools } from '../../src/vm/qemu/binaries';
import { savedVmsHaveBalloon, withRamShim } from '../../src/vm/qemu/memory/ram-shim';
import { kernelCmdline, qemuArgs } from '../../src/vm/qemu/cmdline';
import { hostTscKhz } from '../../src/vm/qemu/host-tsc';
import { spawnConfinedQemu } from '../../src/vm/qemu/confinement/confinement';
import { restoreClone, saveState } from '../../src/vm/qemu/snapshots/migration';
import { killAndWait } from '../../src/vm/qemu/processes/processes';
import { makeRuntimeDir, vmPathsAt, type VmPaths } from '../../src/vm/qemu/runtime-dir';
import { VmTemplates, type TemplateShape } from '../../src/vm/qemu/snapshots/templates';
import type { VmDevices } from '../../src/vm/types';
import { connectWhenListening, qmpCommand, withQmp } from '../../src/vm/qemu/qmp';
import { attachFile } from '../../src/vm/devices/upper-disk/upper-disk-qmp';
import { QMP_FILE_NAME, shareVmDir } from '../../src/vm/qemu/confinement/jail-mounts';
import { activeJail } from '../../src/vm/qemu/confinement/jail';
import { unmountBelow } from '../../src/vm/qemu/host-files';
import { removeVmCgroup } from '../../src/vm/qemu/confinement/vm-cgroup';
import { UPPER_DISK_BYTES, UPPER_DISK_NODE } from '../../src/vm/devices/upper-disk/upper-disk';
import { makeUpperDisk } from '../../src/storage/upper-disk-file';
import { execFileSync } from 'node:child_process';
import { listVmProcesses } from '../helpers/leaks';

jest.setTimeout(180_000);

const guest = defaultGuestImages();
const STATE_FD = 3;
let execRoot: string;
let templates: VmTemplates;
const qemus: ChildProcess[] = [];

beforeAll(() => {
  execRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-checkpoint-'));
  templates = new VmTemplates({
    execRoot,
    qemu: () => locateQemuTools().cloneQemu,
    connectAgent: (e) => AgentClient.connect(e),
    bootTimeoutMs: 30_000,
  });
});

afterAll(async () => {
  for (const q of qemus) if (q.pid) await killAndWait(q.pid);
  await templates.close();
  const ours = listVmProcesses({ jails: true }).filter((p) => p.cmdline.includes(execRoot));
  // Each VM directory is a mount of itself (its jail's), with a cgroup.
  await unmountBelow(execRoot);
  for (const name of fs.readdirSync(path.join(execRoot, 'vms'))) await removeVmCgroup(path.join(execRoot, 'vms', name));
  fs.rmSync(execRoot, { recursive: true, force: true });
  expect(ours).toEqual([]);
});

/** A VM directory of its own under the exec root. */
function vmDir(name: string): VmPaths {
  const paths = vmPathsAt(path.join(execRoot, 'vms', name));
  fs.mkdirSync(path.dirname(paths.dir), { recursive: true, mode: 0o700 });
  makeRuntimeDir(paths, false);
  return paths;
}

/**
 * Start QEMU of `shape` on RAM file `ram` (copy-on-write), waiting for state `stateFile`, and
 * load it; `disk`: a file put behind the upper disk before the state is loaded.
 */
async function startFrom(
  shape: TemplateShape,
  paths: VmPaths,
  devices: VmDevices,
  ram: string,
  stateFile: string,
  allRam: boolean,
  disk?: string,
): Promise<ChildProcess> {
  await shareVmDir(paths.dir);
  const tools = locateQemuTools().cloneQemu;
  const mapped = ram !== paths.ramFile;
  const balloon = savedVmsHaveBalloon(tools);
  const program = mapped ? withRamShim(tools, ram) : tools;
  const fd = fs.openSync(stateFile, 'r');
  let qemu: ChildProcess;
  try {
    qemu = await spawnConfinedQemu(
      program,
      qemuArgs({
        id: path.basename(paths.dir),
        size: shape.size,
        accel: shape.accel,
        kernel: guest.kernel,
        initrd: guest.initrd,
        cmdline: shape.cmdline,
        paths,
        devices,
        splitWx: false,
        machineOpts: guest.machineOpts,
        transport: '9p',
        ram: {
          file: ram,
          share: false,
          readOnlyFile: mapped && !balloon && program.privateRamReadOnly && !!activeJail(),
        },
        incoming: true,
        tapFds: !!activeJail(),
        ninePBalloon: balloon,
      }),
      paths.qemuLog,
      [fd],
      {
        paths,
        readOnly: [
          guest.kernel,
          guest.initrd,
          ...(mapped && program.privateRamReadOnly ? [ram] : []),
          ...(mapped && balloon ? [tools.ramShim!] : []),
        ],
        readWrite: mapped && !program.privateRamReadOnly ? [ram] : [],
        size: shape.size,
        accel: shape.accel,
        taps: devices.nics.map((n) => n.tap),
        ninep: true,
      },
    );
  } finally {
    fs.closeSync(fd);
  }
  qemus.push(qemu);
  for (let i = 0; i < 1000 && !fs.existsSync(paths.qmpSock); i++) await new Promise((r) => setTimeout(r, 10));
  // The socket file is there from bind(2) a moment before QEMU listens (as the daemon's clone
  // load waits: clone-load.ts); a loaded host once saw the connect refused in between.
  (await connectWhenListening(paths.qmpSock)).close();
  if (disk) await withQmp(paths.qmpSock, 10_000, (q) => attachFile(q, paths.disksDir, disk));
  await restoreClone(paths.qmpSock, STATE_FD, { allRam });
  return qemu;
}

const connect = (paths: VmPaths) =>
  AgentClient.connect({ ctlPath: paths.ctlSock, ioPath: paths.ioSock, timeoutMs: 30_000 });

/**
 * Wait until the guest's agent has logged that the host left both its channels (as a template
 * is saved: templates.ts): a VM saved before that wakes with its agent still holding the old
 * host's session, and never answers a new one. A loaded TCG guest may take seconds to see it.
 */
async function hostLeft(paths: VmPaths): Promise<void> {
  const left = () => {
    const log = fs.readFileSync(paths.consoleLog, 'utf8');
    return /host left the control channel/.test(log) && /host left the stream channel/.test(log);
  };
  for (let i = 0; i < 3000 && !left(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!left()) throw new Error(`the agent of ${paths.dir} never logged that the host left both channels`);
}

/** The path at which the QEMU of `paths` opened host file `file` (from its jail: a bind in its directory). */
function reached(paths: VmPaths, file: string): string {
  return activeJail() ? path.join(paths.disksDir, QMP_FILE_NAME) : file;
}

/** The file behind the upper disk's format node, as QEMU reports it. */
async function diskFile(paths: VmPaths): Promise<string | undefined> {
  const nodes = (await qmpCommand(paths.qmpSock, 'query-named-block-nodes')) as Array<{
    'node-name': string;
    file: string;
  }>;
  return nodes.find((n) => n['node-name'] === UPPER_DISK_NODE)?.file;
}

test('a VM saved with all its RAM restores into a QEMU of its own RAM, its guest state kept', async () => {
  const shape: TemplateShape = {
    size: { memoryMiB: 256, cpus: 1 },
    devices: normalizeRequest({ nics: 1 }),
    guest,
    cmdline: kernelCmdline({ accel: 'tcg', tscKhz: hostTscKhz() }),
    accel: 'tcg',
    splitWx: false,
  };
  const tpl = await templates.get(shape);
  const a = vmDir('aaaaaaaaaaaa');
  const devices = planDevices('aaaaaaaaaaaa', shape.devices, a);
  const first = await startFrom(shape, a, devices, tpl.ramFile, tpl.stateFile, false);
  const agent = await connect(a);
  const mac = '02:42:ac:11:00:7e';
  await agent.configureInterface({ name: devices.nics[0].guestName, setMac: mac });
  agent.close();
  // Saved once the agent has seen the host leave (as a template is): the restored agent's
  // next event is the new host's connection.
  await hostLeft(a);
  const checkpoint = path.join(execRoot, 'checkpoint');
  fs.mkdirSync(checkpoint, { mode: 0o700 });
  const saveStart = Date.now();
  // The stream's socket in the VM's directory, which its jailed QEMU reaches (as QemuVm.saveTo).
  await saveState(a, path.join(checkpoint, 'vm.state'), { allRam: true });
  const saveMs = Date.now() - saveStart;
  await killAndWait(first.pid!);
  // The template (its RAM file) goes: the checkpoint must not need it.
  await templates.close();
  expect(fs.existsSync(tpl.ramFile)).toBe(false);

  const b = vmDir('bbbbbbbbbbbb');
  const restoreStart = Date.now();
  await startFrom(shape, b, devices, b.ramFile, path.join(checkpoint, 'vm.state'), true);
  const restored = await connect(b);
  const restoreMs = Date.now() - restoreStart;
  try {
    const eth = (await restored.listInterfaces()).find((i) => i.name === devices.nics[0].guestName);
    expect(eth?.mac).toBe(mac);
  } finally {
    restored.close();
  }
  const st = fs.statSync(path.join(checkpoint, 'vm.state'));
  process.stdout.write(
    `vm-checkpoint: 256 MiB TCG guest saved with all RAM in ${saveMs} ms (${(st.size / 1048576).toFixed(1)} MiB), restored to an answering agent in ${restoreMs} ms\n`,
  );
});

test("a VM with a file behind its upper disk restores with the disk's copy put behind it before the state loads", async () => {
  const shape: TemplateShape = {
    size: { memoryMiB: 256, cpus: 1 },
    devices: normalizeRequest({ nics: 0, upperDisk: true }),
    guest,
    cmdline: kernelCmdline({ accel: 'tcg', tscKhz: hostTscKhz() }),
    accel: 'tcg',
    splitWx: false,
  };
  templates = new VmTemplates({
    execRoot,
    qemu: () => locateQemuTools().cloneQemu,
    connectAgent: (e) => AgentClient.connect(e),
    bootTimeoutMs: 30_000,
  });
  const tpl = await templates.get(shape);
  const c = vmDir('cccccccccccc');
  const devices = planDevices('cccccccccccc', shape.devices, c);
  const disk = path.join(execRoot, 'upper.ext4');
  await makeUpperDisk(disk, UPPER_DISK_BYTES);
  const first = await startFrom(shape, c, devices, tpl.ramFile, tpl.stateFile, false);
  await withQmp(c.qmpSock, 10_000, (q) => attachFile(q, c.disksDir, disk));
  expect(await diskFile(c)).toBe(reached(c, disk));
  (await connect(c)).close();
  await hostLeft(c);
  const checkpoint = path.join(execRoot, 'checkpoint-disk');
  fs.mkdirSync(checkpoint, { mode: 0o700 });
  // The stream's socket in the VM's directory, which its jailed QEMU reaches (as QemuVm.saveTo).
  await saveState(c, path.join(checkpoint, 'vm.state'), { allRam: true });
  // The disk is copied while the VM is stopped (sparse: the 16 GiB file holds a few MiB).
  const copy = path.join(checkpoint, 'upper.ext4');
  execFileSync('cp', ['--sparse=always', '--reflink=auto', disk, copy]);
  await killAndWait(first.pid!);
  await templates.close();

  const d = vmDir('dddddddddddd');
  await startFrom(shape, d, devices, d.ramFile, path.join(checkpoint, 'vm.state'), true, copy);
  const restored = await connect(d);
  try {
    await restored.ping();
    expect(await diskFile(d)).toBe(reached(d, copy));
    const st = (await qmpCommand(d.qmpSock, 'query-status')) as { status?: string };
    expect(st.status).toBe('running');
  } finally {
    restored.close();
  }
  const used = fs.statSync(copy).blocks * 512;
  process.stdout.write(`vm-checkpoint: the upper disk's copy holds ${(used / 1048576).toFixed(1)} MiB of its 16 GiB\n`);
});
