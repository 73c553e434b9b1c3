/**
 * What a VM started from a saved template costs under TCG, against a cold boot of the same
 * guest, with QEMU 7.2 (machine facts: shared/docs/machine-facts.md, "VM templates"):
 *
 *   template   boot once with guest RAM in a file (memory-backend-file, share=on), run a
 *              container-like start (namespaces, mounts) twice, then save the device state
 *              (`migrate` with x-ignore-shared: RAM stays in the file)
 *   clone      a new QEMU with `-incoming defer` and the same devices, RAM mapped from the
 *              template's file: `cow` maps it privately (share=off: pages shared between
 *              clones until written), `copy` gives each clone its own copy of the file
 *              (share=on, as vhost-user back ends such as virtiofsd need; nothing shared)
 *   cold       the same guest booted from scratch
 *
 * For each: wall time and QEMU's CPU (user + system) until the guest answers on its serial
 * console, then the first container-like start (`unshare` of mount, pid, net, uts and ipc
 * namespaces, /proc mounted, `true` run) and a second one: TCG's translated code is not part
 * of a saved state, so a clone translates everything it runs again, as a cold boot does.
 * Also: whether QEMU 7.2 agrees to save a VM with a vhost-user-fs device (it does not).
 *
 * The guest has no agent: podvisor's agent needs its virtio-fs share, which a template cannot
 * have on QEMU 7.2. Its /init is a busybox shell reading commands from the serial port.
 *
 *   npx ts-node --transpile-only bench/template-restore.ts    (BENCH_RUNS=5 clones of each kind)
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { defaultGuestImages } from '../src/vm/guest-images';
import { locateQemuTools } from '../src/vm/qemu/binaries';
import { median, runMain } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const MEM = 256;
const CLK_TCK = 100;
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

function cpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

function pssKiB(pid: number): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** A busybox initramfs whose /init answers shell commands on the serial port. */
function makeInitramfs(dir: string): string {
  const root = path.join(dir, 'root');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'c', 'tmp']) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(root, 'bin', 'busybox'));
  fs.chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
  fs.writeFileSync(
    path.join(root, 'init'),
    [
      '#!/bin/busybox sh',
      '/bin/busybox --install -s /bin',
      'mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev',
      'stty -F /dev/ttyS0 raw -echo 2>/dev/null',
      'echo READY > /dev/ttyS0',
      'while read -r line; do eval "$line"; echo "DONE $?"; done < /dev/ttyS0 > /dev/ttyS0 2>&1',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  const out = path.join(dir, 'initramfs.cpio.gz');
  const r = spawnSync('sh', ['-c', `cd ${root} && find . | cpio -o -H newc 2>/dev/null | gzip -1 > ${out}`]);
  if (r.status !== 0) throw new Error('cpio failed');
  return out;
}

/** One QMP command (a fresh connection each time, as the daemon's qmpCommand does). */
async function qmp(sock: string, cmds: Array<Record<string, unknown>>): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    let buf = '';
    const answers: unknown[] = [];
    let pending = [{ execute: 'qmp_capabilities' }, ...cmds];
    let greeted = false;
    c.setEncoding('utf8');
    c.on('error', reject);
    c.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
        buf = buf.slice(i + 1);
        if ('event' in msg) continue;
        if (!greeted) greeted = true;
        else answers.push(msg);
        if (answers.length === cmds.length + 1) {
          c.end();
          resolve(answers.slice(1));
          return;
        }
        const next = pending[0];
        pending = pending.slice(1);
        if (next) c.write(JSON.stringify(next) + '\n');
      }
    });
  });
}

async function waitForFile(p: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!fs.existsSync(p)) {
    if (Date.now() > until) throw new Error(`${p} did not appear`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The guest's serial port: send a command, wait for its DONE line. */
class Serial {
  private buf = '';
  private waiter?: { what: string; resolve: () => void };
  private constructor(private readonly c: net.Socket) {
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      this.buf += d;
      if (this.waiter && this.buf.includes(this.waiter.what)) {
        const w = this.waiter;
        this.waiter = undefined;
        this.buf = '';
        w.resolve();
      }
    });
  }

  static async open(sock: string): Promise<Serial> {
    await waitForFile(sock);
    const c = net.connect(sock);
    await new Promise<void>((resolve, reject) => c.once('connect', resolve).once('error', reject));
    return new Serial(c);
  }

  wait(what: string, ms = 60_000): Promise<void> {
    if (this.buf.includes(what)) {
      this.buf = '';
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no "${what}" within ${ms} ms: ${this.buf.slice(-300)}`)), ms);
      this.waiter = {
        what,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      };
    });
  }

  async run(cmd: string): Promise<number> {
    const t = now();
    const done = this.wait('DONE ');
    this.c.write(cmd + '\n');
    await done;
    return now() - t;
  }

  close(): void {
    this.c.destroy();
  }
}

/** The container-like start: new namespaces, /proc mounted in them, `true` run. */
const CONTAINER = "unshare -m -p -f -n -u -i sh -c 'mount -t proc p /proc && mount -t tmpfs t /c && true'";

interface Vm {
  proc: ChildProcess;
  serial: Serial;
  qmpSock: string;
  dir: string;
}

function qemuArgs(
  qemuDir: string,
  kernel: string,
  initrd: string,
  machine: string[],
  mem: string,
  extra: string[] = [],
): string[] {
  return [
    '-M',
    ['microvm', 'memory-backend=mem', ...machine].join(','),
    '-accel',
    'tcg,tb-size=32',
    '-m',
    `${MEM}M`,
    '-smp',
    '1',
    '-object',
    mem,
    '-global',
    'virtio-mmio.force-legacy=false',
    '-nodefaults',
    '-no-user-config',
    '-nographic',
    '-no-reboot',
    '-kernel',
    kernel,
    '-initrd',
    initrd,
    '-append',
    'console=ttyS0 quiet loglevel=0 panic=-1 rdinit=/init',
    '-chardev',
    `socket,id=ser,path=${qemuDir}/serial.sock,server=on,wait=off`,
    '-serial',
    'chardev:ser',
    '-qmp',
    `unix:${qemuDir}/qmp.sock,server=on,wait=off`,
    // The daemon's devices other than virtio-fs: the agent's two virtio-serial ports, the balloon.
    '-device',
    'virtio-serial-device',
    '-chardev',
    `socket,id=ctl,path=${qemuDir}/ctl.sock,server=on,wait=off`,
    '-device',
    'virtserialport,chardev=ctl,name=ctl',
    '-chardev',
    `socket,id=io,path=${qemuDir}/io.sock,server=on,wait=off`,
    '-device',
    'virtserialport,chardev=io,name=io',
    '-device',
    'virtio-balloon-device',
    ...extra,
  ];
}

async function start(qemu: string, dir: string, args: string[]): Promise<Vm> {
  fs.mkdirSync(dir, { recursive: true });
  const proc = spawn(qemu, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  proc.on('exit', (code) => {
    if (code) process.stderr.write(`qemu exited ${code}: ${err}\n`);
  });
  const serial = await Serial.open(path.join(dir, 'serial.sock'));
  return { proc, serial, qmpSock: path.join(dir, 'qmp.sock'), dir };
}

async function stop(vm: Vm): Promise<void> {
  vm.serial.close();
  if (vm.proc.exitCode === null) {
    vm.proc.kill('SIGKILL');
    await new Promise((r) => vm.proc.once('exit', r));
  }
}

async function main(): Promise<void> {
  const { kernel, machineOpts } = defaultGuestImages();
  const machine = machineOpts ?? [];
  const qemu = locateQemuTools().qemu;
  const base = fs.mkdtempSync(path.join('/dev/shm', 'podvisor-template-'));
  const vms: Vm[] = [];
  try {
    const initrd = makeInitramfs(base);
    process.stdout.write(
      `kernel ${kernel} (${machine.join(',') || 'microvm defaults'}), ${MEM} MiB, TCG, busybox /init; ${os.cpus().length} host cores\n`,
    );
    const memFile = path.join(base, 'template.mem');
    const state = path.join(base, 'template.state');

    // The template: booted once, a container-like start rehearsed, state saved.
    const t0 = now();
    const tpl = await start(
      qemu,
      path.join(base, 'tpl'),
      qemuArgs(
        path.join(base, 'tpl'),
        kernel,
        initrd,
        machine,
        `memory-backend-file,id=mem,size=${MEM}M,mem-path=${memFile},share=on`,
      ),
    );
    vms.push(tpl);
    await tpl.serial.wait('READY');
    const tplBoot = now() - t0;
    const tplCpu = cpuMs(tpl.proc.pid!);
    const tplFirst = await tpl.serial.run(CONTAINER);
    const tplSecond = await tpl.serial.run(CONTAINER);
    const s0 = now();
    const saved = await qmp(tpl.qmpSock, [
      {
        execute: 'migrate-set-capabilities',
        arguments: { capabilities: [{ capability: 'x-ignore-shared', state: true }] },
      },
      { execute: 'stop' },
      { execute: 'migrate', arguments: { uri: `exec:cat > ${state}` } },
    ]);
    for (let i = 0; i < 400; i++) {
      const [st] = (await qmp(tpl.qmpSock, [{ execute: 'query-migrate' }])) as Array<{ return: { status?: string } }>;
      if (st.return.status === 'completed') break;
      if (st.return.status === 'failed') throw new Error(`save failed: ${JSON.stringify(st)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const saveMs = now() - s0;
    await stop(tpl);
    vms.length = 0;
    const touched = spawnSync('du', ['-k', memFile], { encoding: 'utf8' }).stdout.split('\t')[0];
    process.stdout.write(
      `template: boot ${tplBoot.toFixed(0)} ms (QEMU CPU ${tplCpu.toFixed(0)} ms), container-like start ${tplFirst.toFixed(0)} then ${tplSecond.toFixed(0)} ms; save ${saveMs.toFixed(0)} ms (${JSON.stringify(saved.map((a) => Object.keys(a as object)[0]))}); state ${(fs.statSync(state).size / 1024).toFixed(0)} KiB, RAM file ${(Number(touched) / 1024).toFixed(1)} MiB touched\n`,
    );

    const fig: Record<
      string,
      { ready: number[]; cpu: number[]; first: number[]; second: number[]; cpuAfter: number[]; copy: number[] }
    > = {};
    const kinds = ['cow', 'copy', 'cold'] as const;
    for (const k of kinds) fig[k] = { ready: [], cpu: [], first: [], second: [], cpuAfter: [], copy: [] };
    const cowClones: Vm[] = [];
    for (let r = 0; r < RUNS; r++) {
      for (const k of kinds) {
        const dir = path.join(base, `${k}${r}`);
        fs.mkdirSync(dir);
        const t = now();
        let mem: string;
        let copyMs = 0;
        if (k === 'copy') {
          const own = path.join(dir, 'mem');
          const c = spawnSync('cp', ['--sparse=always', memFile, own]);
          if (c.status !== 0) throw new Error('cp failed');
          copyMs = now() - t;
          mem = `memory-backend-file,id=mem,size=${MEM}M,mem-path=${own},share=on`;
        } else if (k === 'cow') {
          mem = `memory-backend-file,id=mem,size=${MEM}M,mem-path=${memFile},share=off`;
        } else {
          mem = `memory-backend-memfd,id=mem,size=${MEM}M,share=on`;
        }
        const vm = await start(
          qemu,
          dir,
          qemuArgs(dir, kernel, initrd, machine, mem, k === 'cold' ? [] : ['-incoming', 'defer']),
        );
        vms.push(vm);
        if (k !== 'cold') {
          await qmp(vm.qmpSock, [
            {
              execute: 'migrate-set-capabilities',
              arguments: { capabilities: [{ capability: 'x-ignore-shared', state: true }] },
            },
            { execute: 'migrate-incoming', arguments: { uri: `exec:cat ${state}` } },
          ]);
          for (let i = 0; i < 400; i++) {
            const [st] = (await qmp(vm.qmpSock, [{ execute: 'query-status' }])) as Array<{
              return: { status: string };
            }>;
            if (st.return.status !== 'inmigrate') break;
            await new Promise((res) => setTimeout(res, 2));
          }
          await qmp(vm.qmpSock, [{ execute: 'cont' }]);
          // The shell was waiting in read() when the template was saved: one echo shows it runs.
          await vm.serial.run('true');
        } else {
          await vm.serial.wait('READY');
        }
        fig[k].ready.push(now() - t);
        fig[k].cpu.push(cpuMs(vm.proc.pid!));
        fig[k].copy.push(copyMs);
        fig[k].first.push(await vm.serial.run(CONTAINER));
        fig[k].second.push(await vm.serial.run(CONTAINER));
        fig[k].cpuAfter.push(cpuMs(vm.proc.pid!));
        if (k === 'cow' && r < 3) cowClones.push(vm);
        else {
          await stop(vm);
          vms.splice(vms.indexOf(vm), 1);
        }
      }
    }
    // PSS of the first three copy-on-write clones, side by side, idle.
    await new Promise((r) => setTimeout(r, 1000));
    const pss = cowClones.map((v) => pssKiB(v.proc.pid!) / 1024);
    const line = (name: string, key: keyof (typeof fig)['cow']): string =>
      `| ${name} | ${kinds.map((k) => `${median(fig[k][key]).toFixed(0)} ms (${fig[k][key].map((x) => x.toFixed(0)).join(' ')})`).join(' | ')} |\n`;
    process.stdout.write(
      `\n| ${RUNS} runs, medians | clone, RAM copy-on-write (share=off) | clone, own RAM copy (share=on) | cold boot |\n| --- | --- | --- | --- |\n`,
    );
    process.stdout.write(line('RAM file copy', 'copy'));
    process.stdout.write(line('spawn to guest answering (wall)', 'ready'));
    process.stdout.write(line('QEMU CPU at that point', 'cpu'));
    process.stdout.write(line('first container-like start', 'first'));
    process.stdout.write(line('second one', 'second'));
    process.stdout.write(line('QEMU CPU after both', 'cpuAfter'));
    process.stdout.write(
      `\nPSS of ${pss.length} copy-on-write clones side by side, idle: ${pss.map((x) => x.toFixed(1)).join(', ')} MiB\n`,
    );

    // QEMU 7.2 and vhost-user-fs: can a VM with the device be saved at all?
    const vfsDir = path.join(base, 'vfs');
    fs.mkdirSync(path.join(vfsDir, 'share'), { recursive: true });
    const virtiofsd = spawn(
      locateQemuTools().virtiofsd,
      [`--socket-path=${vfsDir}/vfs.sock`, '-o', `source=${vfsDir}/share`, '-o', 'cache=always'],
      { stdio: 'ignore' },
    );
    try {
      await waitForFile(path.join(vfsDir, 'vfs.sock'));
      const vm = await start(
        qemu,
        vfsDir,
        qemuArgs(vfsDir, kernel, initrd, machine, `memory-backend-memfd,id=mem,size=${MEM}M,share=on`, [
          '-chardev',
          `socket,id=vfs,path=${vfsDir}/vfs.sock`,
          '-device',
          'vhost-user-fs-device,chardev=vfs,tag=t',
        ]),
      );
      vms.push(vm);
      await vm.serial.wait('READY');
      const answer = await qmp(vm.qmpSock, [
        { execute: 'stop' },
        { execute: 'migrate', arguments: { uri: `exec:cat > ${vfsDir}/state` } },
      ]);
      process.stdout.write(
        `QEMU 7.2, a VM with vhost-user-fs (share not mounted), migrate: ${JSON.stringify(answer[1])}\n`,
      );
    } finally {
      virtiofsd.kill('SIGKILL');
    }
  } finally {
    for (const vm of vms) await stop(vm);
    fs.rmSync(base, { recursive: true, force: true });
  }
}

runMain(main);
