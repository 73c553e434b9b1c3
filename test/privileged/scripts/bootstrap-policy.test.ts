/**
 * scripts/bootstrap.sh installs missing Debian packages with a /usr/sbin/policy-rc.d that
 * keeps their services (dockerd, the registry) from starting. Whatever happens to apt-get,
 * the machine's own policy-rc.d (or its absence) must be back afterwards: apt-get failing,
 * succeeding, or bootstrap being stopped by a signal while apt-get runs.
 *
 * The real script runs from a scratch copy of the repository layout, with `dpkg-query` and
 * `apt-get` replaced on PATH: every package reads as missing, and apt-get records the policy
 * it found in place, then does what the case asks. Needs root (bootstrap installs only as
 * root, and the policy file is the system's).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

const POLICY = '/usr/sbin/policy-rc.d';
const BOOTSTRAP = path.resolve(__dirname, '../../../scripts/bootstrap.sh');

let dir: string;
let original: { content: Buffer; mode: number } | undefined;

beforeAll(() => {
  if (fs.existsSync(POLICY)) original = { content: fs.readFileSync(POLICY), mode: fs.statSync(POLICY).mode };
});

afterAll(() => {
  // Whatever a failed case left, the machine gets its own file back.
  fs.rmSync(POLICY, { force: true });
  if (original) fs.writeFileSync(POLICY, original.content, { mode: original.mode });
});

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-bootstrap-'));
  fs.mkdirSync(path.join(dir, 'scripts'));
  fs.copyFileSync(BOOTSTRAP, path.join(dir, 'scripts/bootstrap.sh'));
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.writeFileSync(path.join(dir, 'bin/dpkg-query'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  // npm packages read as installed, so a bootstrap that gets past apt-get stops at the guest
  // step (no guest/build.sh here) instead of running npm.
  fs.writeFileSync(path.join(dir, 'package-lock.json'), '{}\n');
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.writeFileSync(path.join(dir, 'node_modules/.package-lock.json'), '{}\n');
  const later = new Date(Date.now() + 60_000);
  fs.utimesSync(path.join(dir, 'node_modules/.package-lock.json'), later, later);
});

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs the copied bootstrap with a fake apt-get whose `install` runs `install` (sh). */
function runBootstrap(install: string): { status: number | null; seen: string } {
  fs.writeFileSync(
    path.join(dir, 'bin/apt-get'),
    `#!/bin/sh\ncase "$1" in update) exit 0 ;; esac\ncat ${POLICY} > ${dir}/seen 2>&1 || echo none > ${dir}/seen\n${install}\n`,
    { mode: 0o755 },
  );
  const r = spawnSync('bash', [path.join(dir, 'scripts/bootstrap.sh')], {
    env: { ...process.env, PATH: `${path.join(dir, 'bin')}:${process.env.PATH}` },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: r.status, seen: fs.readFileSync(path.join(dir, 'seen'), 'utf8') };
}

function setPolicy(content: string | undefined): void {
  fs.rmSync(POLICY, { force: true });
  if (content !== undefined) fs.writeFileSync(POLICY, content, { mode: 0o755 });
}

const policyNow = (): string | undefined => (fs.existsSync(POLICY) ? fs.readFileSync(POLICY, 'utf8') : undefined);

describe.each([
  ['no policy-rc.d', undefined],
  ["the admin's own policy-rc.d", "#!/bin/sh\n# the admin's policy\nexit 0\n"],
])('with %s before', (_name, before) => {
  test('apt-get fails: bootstrap fails, and the policy is as it was', () => {
    setPolicy(before);
    const r = runBootstrap('exit 100');
    expect(r.status).not.toBe(0);
    expect(r.seen).toBe('#!/bin/sh\nexit 101\n');
    expect(policyNow()).toBe(before);
  });

  test('apt-get succeeds: the policy is as it was once apt-get is done', () => {
    setPolicy(before);
    // Bootstrap goes on to the npm and guest steps, which fail in the scratch copy: the
    // policy must have been put back before them.
    const r = runBootstrap('exit 0');
    expect(r.seen).toBe('#!/bin/sh\nexit 101\n');
    expect(policyNow()).toBe(before);
  });

  test('bootstrap is stopped by SIGTERM while apt-get runs: the policy is as it was', () => {
    setPolicy(before);
    const r = runBootstrap('kill -TERM $PPID; exit 0');
    expect(r.status).not.toBe(0);
    expect(r.seen).toBe('#!/bin/sh\nexit 101\n');
    expect(policyNow()).toBe(before);
  });
});
