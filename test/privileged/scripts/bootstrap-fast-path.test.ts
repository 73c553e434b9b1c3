/**
 * scripts/bootstrap.sh's fast path: a run that finds nothing changed since the last complete
 * run of its mode ends before any step, and any change of an input (a source, a script,
 * package-lock.json), also one saved while the last run's steps ran, a missing output or
 * another mode runs the steps again. Run on a copy of
 * the script in a temp tree whose steps are stand-ins that log their calls, with dpkg-query
 * answering every package installed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

const BOOTSTRAP = path.resolve(__dirname, '../../../scripts/bootstrap.sh');

let dir: string;

/** A file of the temp tree (parents made), executable when `mode` says so. */
function put(rel: string, content: string, mode = 0o644): void {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), content, { mode });
}

/** A stand-in step that logs its name (and arguments) to steps.log and makes `makes`, if any. */
function step(rel: string, name: string, makes = ''): void {
  const make = makes ? `mkdir -p "$(dirname ${dir}/${makes})"; touch ${dir}/${makes}\n` : '';
  put(rel, `#!/bin/sh\necho "${name} $*" >> ${dir}/steps.log\n${make}`, 0o755);
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-bootstrap-fast-'));
  put('scripts/bootstrap.sh', fs.readFileSync(BOOTSTRAP, 'utf8'), 0o755);
  put('fake-bin/dpkg-query', "#!/bin/sh\nprintf 'install ok installed'\n", 0o755);
  put('package-lock.json', '{}\n');
  put('package.json', '{}\n');
  put('tsconfig.json', '{}\n');
  put('src/daemon/main.ts', '// the daemon\n');
  put('node_modules/.package-lock.json', '{}\n');
  const later = new Date(Date.now() + 1000);
  fs.utimesSync(path.join(dir, 'node_modules/.package-lock.json'), later, later);
  // The own kernel is there (its --path answers), and each step makes its outputs.
  put(
    'scripts/guest-kernel.sh',
    `#!/bin/sh\nif [ "$1" = --path ]; then echo /cache/vmlinux; exit 0; fi\necho "guest-kernel $*" >> ${dir}/steps.log\n`,
    0o755,
  );
  put(
    'guest/build.sh',
    `#!/bin/sh\necho guest-build >> ${dir}/steps.log\nmkdir -p ${dir}/guest/out/podvisor\n` +
      `touch ${dir}/guest/out/initramfs.cpio.gz ${dir}/guest/out/vmlinux ${dir}/guest/out/podvisor/vmlinux\n`,
    0o755,
  );
  step('scripts/qemu-9p.sh', 'qemu-9p');
  step('scripts/dockerd26.sh', 'dockerd26');
  step('scripts/compose-v2.sh', 'compose-v2');
  for (const h of ['lock-holder', 'fs-events', 'hijack-wait', 'connect-as', 'jail', 'ram-shim'])
    put(
      `host/${h}/Makefile`,
      `all:\n\t@echo make-${h} >> ${dir}/steps.log\n\t@mkdir -p ../out && touch ../out/podvisor-${h}${h === 'ram-shim' ? '.so' : ''}\n`,
    );
  step('scripts/build.sh', 'build', 'dist/src/daemon/main.js');
});

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Run the copied bootstrap; the steps it ran (and empties the log). */
function bootstrap(...args: string[]): string[] {
  const r = spawnSync('bash', [path.join(dir, 'scripts/bootstrap.sh'), ...args], {
    env: { ...process.env, PATH: `${path.join(dir, 'fake-bin')}:${process.env.PATH}`, PODVISOR_GUEST_KERNEL: '' },
    encoding: 'utf8',
    timeout: 20_000,
  });
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  const log = path.join(dir, 'steps.log');
  const steps = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
  fs.rmSync(log, { force: true });
  return steps;
}

/** Make `rel` newer than the stamps bootstrap wrote so far (as an edit after that run). */
function touchLater(rel: string): void {
  const earlier = new Date(Date.now() - 10_000);
  for (const stamp of fs.readdirSync(path.join(dir, '.bootstrap')))
    fs.utimesSync(path.join(dir, '.bootstrap', stamp), earlier, earlier);
  const now = new Date();
  fs.utimesSync(path.join(dir, rel), now, now);
}

const ALL_STEPS = [
  'guest-kernel ',
  'guest-build',
  'qemu-9p ',
  'make-lock-holder',
  'make-fs-events',
  'make-hijack-wait',
  'make-connect-as',
  'make-jail',
  'make-ram-shim',
  'build ',
];

test('a second run with nothing changed runs no step; a changed source or script runs them again', () => {
  expect(bootstrap()).toEqual(ALL_STEPS);
  expect(bootstrap()).toEqual([]);
  touchLater('src/daemon/main.ts');
  expect(bootstrap()).toEqual(ALL_STEPS);
  expect(bootstrap()).toEqual([]);
  touchLater('guest/build.sh');
  expect(bootstrap()).toEqual(ALL_STEPS);
  touchLater('package-lock.json');
  touchLater('node_modules/.package-lock.json');
  expect(bootstrap()).toEqual(ALL_STEPS);
  expect(bootstrap()).toEqual([]);
});

test('a missing output, or another mode, runs the steps', () => {
  expect(bootstrap()).toEqual(ALL_STEPS);
  fs.rmSync(path.join(dir, 'host/out/podvisor-fs-events'));
  expect(bootstrap()).toEqual(ALL_STEPS);
  expect(fs.existsSync(path.join(dir, 'host/out/podvisor-fs-events'))).toBe(true);
  expect(bootstrap()).toEqual([]);
  // --test has its own stamp (and builds with --check).
  // --test also unpacks the API oracle (dockerd 26.1) and Compose v2 after QEMU 10.
  const testSteps = [...ALL_STEPS.slice(0, -1), 'build --check'];
  testSteps.splice(testSteps.indexOf('qemu-9p ') + 1, 0, 'dockerd26 ', 'compose-v2 ');
  expect(bootstrap('--test')).toEqual(testSteps);
  expect(bootstrap('--test')).toEqual([]);
  expect(bootstrap()).toEqual([]);
});

test('no stamp while an output is missing after the steps (the own kernel still building)', () => {
  // guest/build.sh assembles no own guest: the kernel build runs in the background.
  put('guest/build.sh', `#!/bin/sh\necho guest-build >> ${dir}/steps.log\n`, 0o755);
  put('guest/out/initramfs.cpio.gz', '');
  put('guest/out/vmlinux', '');
  expect(bootstrap()).toEqual(ALL_STEPS);
  expect(bootstrap()).toEqual(ALL_STEPS);
});

test('a source edited while a run builds (after the build read it) is built again by the next run', () => {
  // The build reads the sources, then the user saves an edit before the run ends (once).
  put(
    'scripts/build.sh',
    `#!/bin/sh\necho "build $*" >> ${dir}/steps.log\nmkdir -p ${dir}/dist/src/daemon && touch ${dir}/dist/src/daemon/main.js\n` +
      `[ -e ${dir}/edited ] || { sleep 0.05; echo '// edited' >> ${dir}/src/daemon/main.ts; touch ${dir}/edited; }\n`,
    0o755,
  );
  expect(bootstrap()).toEqual(ALL_STEPS);
  // What the run built is older than the edit: the next run builds again, the one after not.
  expect(bootstrap()).toEqual(ALL_STEPS);
  expect(bootstrap()).toEqual([]);
});
