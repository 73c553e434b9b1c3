/**
 * Seccomp through the stock docker CLI on real VMs, beside the baseline dockerd 20.10 + runc
 * (its own network namespace) for what a user sees: the default profile (podvisor's own)
 * refuses what Docker's refuses a container without extra capabilities, in the same words;
 * `--security-opt seccomp=unconfined` and `--privileged` run without a filter; a profile file
 * (the CLI sends its content) is applied to the init and to execs; a bad profile is a 400 at
 * create that makes nothing (dockerd takes it and fails the start); `docker info` lists seccomp.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDockerd, type BaselineDockerd } from '../../bench/common';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerCli, type CliResult } from '../helpers/docker-cli';

jest.setTimeout(300_000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox:latest`;

let d: TestDaemon;
let baseline: BaselineDockerd | undefined;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-seccomp-compat-'));

const ours = (args: string[]): Promise<CliResult> => dockerCli(d, args);
const theirs = (args: string[]): Promise<CliResult> => dockerCli({ env: baseline!.env }, args);
/** `docker run --rm` of IMAGE on both daemons (no network: the baseline has no bridge). */
const runBoth = (opts: string[], cmd: string[]) =>
  Promise.all([
    ours(['run', '--rm', ...opts, IMAGE, ...cmd]),
    theirs(['run', '--rm', '--network', 'none', ...opts, IMAGE, ...cmd]),
  ]);

function profileFile(name: string, profile: object): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, JSON.stringify(profile, null, 2));
  return f;
}

/** POST /v1.41/containers/create with `body`: status and the parsed answer. */
function createRaw(body: object): Promise<{ status: number; json: { message?: string; Id?: string } }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath: d.socketPath,
        method: 'POST',
        path: '/v1.41/containers/create',
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

beforeAll(async () => {
  [d, baseline] = await Promise.all([startDaemon({ vmPoolSize: 1 }), startDockerd(path.join(dir, 'dockerd'))]);
  const pulled = await Promise.all([ours(['pull', '-q', IMAGE]), theirs(['pull', '-q', IMAGE])]);
  expect(pulled.map((p) => p.code)).toEqual([0, 0]);
});
afterAll(async () => {
  await baseline?.stop();
  if (d) {
    await ours(['rm', '-f', 'sc-svc']);
    await stopDaemonLeavingNothing(d);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('docker info lists seccomp with the default profile, as dockerd does', async () => {
  const [a, b] = await Promise.all([
    ours(['info', '--format', '{{json .SecurityOptions}}']),
    theirs(['info', '--format', '{{json .SecurityOptions}}']),
  ]);
  expect(a).toEqual({ code: 0, out: '["name=seccomp,profile=default"]\n', err: '' });
  expect(a).toEqual(b);
});

test("the default profile refuses namespaces, mounts, the hostname and the clock as Docker's does, in the init and in execs", async () => {
  const script = [
    'grep ^Seccomp: /proc/self/status',
    'unshare -U true; echo unshare=$?',
    'hostname blocked; echo hostname=$?',
    'mount -t tmpfs t /mnt; echo mount=$?',
    'date -s 2020-01-01 >/dev/null; echo date=$?',
    'mkdir /made && echo mkdir=$?',
  ].join('; ');
  const [a, b] = await runBoth([], ['sh', '-c', script]);
  const want = {
    code: 0,
    out: 'Seccomp:\t2\nunshare=1\nhostname=1\nmount=1\ndate=0\nmkdir=0\n',
    err: [
      'unshare: unshare(0x10000000): Operation not permitted',
      'hostname: sethostname: Operation not permitted',
      'mount: permission denied (are you root?)',
      "date: can't set date: Operation not permitted",
      '',
    ].join('\n'),
  };
  expect(a).toEqual(want);
  expect(b).toEqual(want);
  // An exec gets the container's filter too.
  expect((await ours(['run', '-d', '--name', 'sc-svc', IMAGE, 'sleep', '600'])).code).toBe(0);
  expect(await ours(['exec', 'sc-svc', 'unshare', '-U', 'true'])).toEqual({
    code: 1,
    out: '',
    err: 'unshare: unshare(0x10000000): Operation not permitted\n',
  });
  expect((await ours(['exec', 'sc-svc', 'grep', '^Seccomp:', '/proc/self/status'])).out).toBe('Seccomp:\t2\n');
});

test('seccomp=unconfined and --privileged run without a filter', async () => {
  const [a, b] = await runBoth(
    ['--security-opt', 'seccomp=unconfined'],
    ['sh', '-c', 'grep ^Seccomp: /proc/self/status; unshare -U true && echo user-namespace'],
  );
  const want = { code: 0, out: 'Seccomp:\t0\nuser-namespace\n', err: '' };
  expect(a).toEqual(want);
  expect(b).toEqual(want);
  // (The baseline cannot run --privileged here: runc fails to apply every capability.)
  expect(await ours(['run', '--rm', '--privileged', IMAGE, 'grep', '^Seccomp:', '/proc/self/status'])).toEqual({
    code: 0,
    out: 'Seccomp:\t0\n',
    err: '',
  });
});

test('a profile file is applied as dockerd applies it: errno, errnoRet, trace and kill actions', async () => {
  const f = profileFile('custom.json', {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [
      { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' },
      { names: ['chmod', 'fchmodat'], action: 'SCMP_ACT_ERRNO', errnoRet: 5 },
      { names: ['rmdir'], action: 'SCMP_ACT_TRACE' },
      { names: ['no_such_call_anywhere'], action: 'SCMP_ACT_ERRNO' },
    ],
  });
  const script = 'grep ^Seccomp: /proc/self/status; mkdir /x; chmod 700 /tmp; rmdir /tmp; touch /ok && echo touched';
  const [a, b] = await runBoth(['--security-opt', `seccomp=${f}`], ['sh', '-c', script]);
  const want = {
    code: 0,
    out: 'Seccomp:\t2\ntouched\n',
    err: [
      "mkdir: can't create directory '/x': Operation not permitted",
      'chmod: /tmp: Input/output error',
      "rmdir: '/tmp': Function not implemented",
      '',
    ].join('\n'),
  };
  expect(b).toEqual(want);
  expect(a).toEqual(want);
  const kill = profileFile('kill.json', {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_KILL_PROCESS' }],
  });
  const [ka, kb] = await runBoth(['--security-opt', `seccomp=${kill}`], ['mkdir', '/x']);
  expect(ka).toEqual({ code: 159, out: '', err: '' });
  expect(kb).toEqual(ka);
});

test("a bad profile is a 400 at create with runc's and dockerd's words, and makes nothing", async () => {
  const before = (await ours(['ps', '-aq'])).out;
  const bad = profileFile('bad.json', { defaultAction: 'SCMP_ACT_FOO' });
  const r = await ours(['create', '--security-opt', `seccomp=${bad}`, IMAGE]);
  expect(r).toEqual({
    code: 1,
    out: '',
    err: 'Error response from daemon: string SCMP_ACT_FOO is not a valid action for seccomp\n',
  });
  // dockerd creates it, then refuses the start with the same words (through runc).
  const t = await theirs(['create', '--network', 'none', '--security-opt', `seccomp=${bad}`, IMAGE]);
  expect(t.code).toBe(0);
  const ts = await theirs(['start', t.out.trim()]);
  expect(ts.err).toContain('string SCMP_ACT_FOO is not a valid action for seccomp');

  const raw = await createRaw({
    Image: IMAGE,
    HostConfig: { SecurityOpt: ['seccomp={"defaultAction":"SCMP_ACT_ALLOW","archMap":[],"architectures":5}'] },
  });
  expect(raw).toEqual({
    status: 400,
    json: {
      message:
        'Decoding seccomp profile failed: json: cannot unmarshal number into Go struct field Seccomp.architectures of type []specs.Arch',
    },
  });
  expect((await ours(['ps', '-aq'])).out).toBe(before);
});
