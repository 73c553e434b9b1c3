/**
 * Every program the daemon runs comes from a Debian package that `npm start` gives it: either
 * the bootstrap's runtime list (scripts/bootstrap.sh, `pkgs=(...)`) or a package of priority
 * `required`, which every Debian install has. A fresh Debian 12 has no iptables, so a network
 * tool missing from that list left a new user's daemon without networks.
 *
 * The programs are read from the sources: every call that spawns (node:child_process's
 * functions, a promisified execFile, and any function that hands its own parameter to one of
 * those as the program, across files, e.g. src/net/run.ts's `run`) names its program as a
 * string literal, or as an expression listed in DYNAMIC with what it resolves to. `dpkg -S`
 * cannot answer in a unit test, so PACKAGE_OF is an explicit table: a program the code starts
 * to run that is not in it fails here until someone says which package gives it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { NETWORK_TOOLS } from '../../../src/net/host-tools';

const root = path.resolve(__dirname, '../../..');

/** Program -> the Debian (bookworm) package that installs it. */
const PACKAGE_OF: Record<string, string> = {
  ip: 'iproute2',
  tc: 'iproute2',
  iptables: 'iptables',
  'iptables-restore': 'iptables',
  'iptables-save': 'iptables',
  unshare: 'util-linux',
  nsenter: 'util-linux',
  flock: 'util-linux',
  setpriv: 'util-linux',
  mount: 'mount',
  umount: 'mount',
  perl: 'perl-base',
  rm: 'coreutils',
  cp: 'coreutils',
  du: 'coreutils',
  mknod: 'coreutils',
  stty: 'coreutils',
  setfattr: 'attr',
  getfattr: 'attr',
  'mkfs.ext4': 'e2fsprogs',
  bzip2: 'bzip2',
  xz: 'xz-utils',
  zstd: 'zstd',
  'qemu-system-x86_64': 'qemu-system-x86',
  virtiofsd: 'qemu-system-common',
  'podvisor-lock-holder': '(built by the bootstrap: host/lock-holder)',
  'podvisor-fs-events': '(built by the bootstrap: host/fs-events)',
  'podvisor-hijack-wait': '(built by the bootstrap: host/hijack-wait)',
  'podvisor-connect-as': '(built by the bootstrap: host/connect-as)',
  'podvisor-jail': '(built by the bootstrap: host/jail)',
  ldd: 'libc-bin',
  'cni-plugin': "(the CNI plugins the kubelet's network config names; not podvisor's)",
  sh: 'dash',
  sed: 'sed',
};

/**
 * Packages of priority `required` in Debian 12: on every install, so the bootstrap need not
 * name them (`dpkg-query -W -f='${Priority}'` says so on a bookworm host).
 */
const REQUIRED = new Set(['libc-bin', 'util-linux', 'mount', 'perl-base', 'coreutils', 'e2fsprogs', 'dash', 'sed']);

/**
 * Shell scripts the sources run (`sh -c SCRIPT`), by `file: expression` of SCRIPT -> the
 * programs the script runs (each checked to be named in the script's text).
 */
const SHELL_SCRIPTS: Record<string, string[]> = {
  'src/net/cni/tap-redirect.ts: IN_NETNS_STEPS': ['ip', 'tc'],
};

/**
 * Programs given by an expression rather than a literal: `file: expression` -> the programs
 * it names (the QEMU binaries resolved in src/vm/qemu/binaries.ts, our own lock holder, and a
 * CNI plugin the network config names).
 */
const DYNAMIC: Record<string, string[]> = {
  'src/net/cni/exec.ts: r.bin': ['cni-plugin'],
  'src/vm/qemu/binaries.ts: qemu': ['qemu-system-x86_64'],
  'src/vm/accel.ts: qemu': ['qemu-system-x86_64'],
  'src/vm/qemu/boot.ts: tools.virtiofsd': ['virtiofsd'],
  'src/vm/qemu/boot.ts: tools.qemu': ['qemu-system-x86_64'],
  'src/vm/qemu/snapshots/clone-qemu.ts: tools.cloneQemu.bin': ['qemu-system-x86_64'],
  'src/vm/qemu/snapshots/templates.ts: program.bin': ['qemu-system-x86_64'],
  'src/vm/qemu/processes/lock-holder.ts: bin': ['podvisor-lock-holder'],
  'src/vm/qemu/processes/lock-holder.ts: jail': ['podvisor-jail', 'podvisor-lock-holder'],
  'src/vm/qemu/processes/virtiofsd.ts: bin': ['virtiofsd'],
  'src/vm/qemu/processes/virtiofsd.ts: jail': ['podvisor-jail', 'virtiofsd'],
  // The jail with a PID namespace of its own: its callers name the program (lock-holder.ts,
  // virtiofsd.ts, confinement.ts).
  'src/vm/qemu/confinement/jailed-process.ts: jailBin': ['podvisor-jail'],
  'src/pod/network/share-events.ts: FS_EVENTS_BIN': ['podvisor-fs-events'],
  'src/api/v1.41/peer-read.ts: bin': ['podvisor-hijack-wait'],
  'src/pod/network/peer-of.ts: bin': ['podvisor-connect-as'],
  // Every QEMU starts through setpriv (its capability bounding set), which then execs it.
  'src/vm/qemu/confinement/confinement.ts: setprivBinary()': ['setpriv', 'qemu-system-x86_64'],
  // ... or, jailed (the default), through the jail, which execs it the same way.
  'src/vm/qemu/confinement/confinement.ts: jailBin': ['podvisor-jail', 'qemu-system-x86_64'],
};

/** The functions of node:child_process that take the program as their first argument. */
const CHILD_PROCESS = new Set(['execFile', 'execFileSync', 'spawn', 'spawnSync']);

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

interface Parsed {
  rel: string;
  sf: ts.SourceFile;
  /** Local name -> the imported module's file (relative to root) and exported name. */
  imports: Map<string, { file: string; name: string }>;
}

function parse(file: string): Parsed {
  const rel = path.relative(root, file);
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const imports = new Map<string, { file: string; name: string }>();
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) || !ts.isStringLiteral(st.moduleSpecifier)) continue;
    const spec = st.moduleSpecifier.text;
    const from = spec.startsWith('.') ? path.relative(root, path.resolve(path.dirname(file), spec)) + '.ts' : spec;
    const named = st.importClause?.namedBindings;
    if (named && ts.isNamedImports(named)) {
      for (const el of named.elements)
        imports.set(el.name.text, { file: from, name: (el.propertyName ?? el.name).text });
    }
  }
  return { rel, sf, imports };
}

/** The name a call's callee goes by in its file (`f(...)` or `this.f(...)`), if any. */
function calleeName(call: ts.CallExpression): string | undefined {
  const e = call.expression;
  if (ts.isIdentifier(e)) return e.text;
  if (ts.isPropertyAccessExpression(e) && e.expression.kind === ts.SyntaxKind.ThisKeyword) return e.name.text;
  return undefined;
}

/** The innermost function around `node`, with its parameter names. */
function enclosingFunction(node: ts.Node): { name?: string; params: string[] } | undefined {
  for (let n: ts.Node | undefined = node.parent; n; n = n.parent) {
    if (
      ts.isFunctionDeclaration(n) ||
      ts.isMethodDeclaration(n) ||
      ts.isArrowFunction(n) ||
      ts.isFunctionExpression(n)
    ) {
      if (ts.isArrowFunction(n) || ts.isFunctionExpression(n)) {
        // A callback inside a function (new Promise(...)): the named function is further out.
        const outer = n.parent && ts.isVariableDeclaration(n.parent) ? n.parent : undefined;
        if (!outer) continue;
        return { name: outer.name.getText(), params: n.parameters.map((p) => p.name.getText()) };
      }
      return { name: n.name?.getText(), params: n.parameters.map((p) => p.name.getText()) };
    }
  }
  return undefined;
}

/** Every program the sources spawn, with where. */
function spawnedPrograms(): Array<{ program: string; where: string }> {
  const files = sourceFiles(path.join(root, 'src')).map(parse);
  // `file#name` -> index of the argument that is the program.
  const spawners = new Map<string, number>();
  const key = (file: string, name: string): string => `${file}#${name}`;
  const lookup = (p: Parsed, name: string): number | undefined => {
    const imp = p.imports.get(name);
    if (imp?.file === 'node:child_process') return CHILD_PROCESS.has(imp.name) ? 0 : undefined;
    if (imp) return spawners.get(key(imp.file, imp.name));
    return spawners.get(key(p.rel, name));
  };
  const calls = (p: Parsed, visit: (call: ts.CallExpression, index: number) => void): void => {
    const walk = (n: ts.Node): void => {
      if (ts.isCallExpression(n)) {
        const name = calleeName(n);
        const index = name === undefined ? undefined : lookup(p, name);
        if (index !== undefined && n.arguments[index]) visit(n, index);
      }
      ts.forEachChild(n, walk);
    };
    walk(p.sf);
  };
  // Promisified execFile, and wrappers that pass a parameter on as the program (or as the
  // program that nsenter runs after `--`), until no new one turns up.
  for (let changed = true; changed; ) {
    changed = false;
    const add = (k: string, index: number): void => {
      if (!spawners.has(k)) {
        spawners.set(k, index);
        changed = true;
      }
    };
    for (const p of files) {
      const walk = (n: ts.Node): void => {
        if (ts.isVariableDeclaration(n) && n.initializer && ts.isCallExpression(n.initializer)) {
          const [arg] = n.initializer.arguments;
          if (calleeName(n.initializer) === 'promisify' && arg && ts.isIdentifier(arg) && lookup(p, arg.text) === 0) {
            add(key(p.rel, n.name.getText()), 0);
          }
        }
        ts.forEachChild(n, walk);
      };
      walk(p.sf);
      calls(p, (call, index) => {
        const fn = enclosingFunction(call);
        if (!fn?.name) return;
        const program = call.arguments[index];
        let passed = ts.isIdentifier(program) ? fn.params.indexOf(program.text) : -1;
        const args = call.arguments[index + 1];
        if (
          passed < 0 &&
          ts.isStringLiteral(program) &&
          program.text === 'nsenter' &&
          args &&
          ts.isArrayLiteralExpression(args)
        ) {
          const after = args.elements.findIndex((e) => ts.isStringLiteral(e) && e.text === '--');
          const cmd = args.elements[after + 1];
          if (after >= 0 && cmd && ts.isIdentifier(cmd)) passed = fn.params.indexOf(cmd.text);
        }
        if (passed >= 0) add(key(p.rel, fn.name), passed);
      });
    }
  }
  const found: Array<{ program: string; where: string }> = [];
  for (const p of files) {
    calls(p, (call, index) => {
      const arg = call.arguments[index];
      const where = `${p.rel}:${p.sf.getLineAndCharacterOfPosition(call.getStart()).line + 1}`;
      const fn = enclosingFunction(call);
      if (ts.isIdentifier(arg) && fn?.params.includes(arg.text) && fn.name && spawners.has(key(p.rel, fn.name))) {
        return; // a wrapper passing its caller's program on: the callers are read instead
      }
      const literals = (e: ts.Expression): string[] | undefined => {
        if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return [e.text];
        if (ts.isConditionalExpression(e)) {
          const a = literals(e.whenTrue);
          const b = literals(e.whenFalse);
          return a && b ? [...a, ...b] : undefined;
        }
        return undefined;
      };
      const programs = literals(arg) ?? DYNAMIC[`${p.rel}: ${arg.getText()}`];
      if (!programs) found.push({ program: `(unlisted expression "${p.rel}: ${arg.getText()}")`, where });
      for (const program of programs ?? []) found.push({ program, where });
      // nsenter runs the program after `--` as well.
      const args = call.arguments[index + 1];
      let shellArgs = programs?.includes('sh') ? args : undefined;
      if (programs?.includes('nsenter') && args && ts.isArrayLiteralExpression(args)) {
        const after = args.elements.findIndex((e) => ts.isStringLiteral(e) && e.text === '--');
        const cmd = args.elements[after + 1];
        if (after >= 0 && cmd && ts.isStringLiteral(cmd)) found.push({ program: cmd.text, where });
        if (after >= 0 && cmd && ts.isStringLiteral(cmd) && cmd.text === 'sh')
          shellArgs = ts.factory.createArrayLiteralExpression(args.elements.slice(after + 2));
      }
      // A shell runs what its script names.
      if (shellArgs && ts.isArrayLiteralExpression(shellArgs)) {
        const c = shellArgs.elements.findIndex((e) => ts.isStringLiteral(e) && e.text === '-c');
        const script = shellArgs.elements[c + 1];
        if (c >= 0 && script) {
          const k = `${p.rel}: ${script.getText(p.sf)}`;
          const run = SHELL_SCRIPTS[k];
          if (!run) found.push({ program: `(unlisted shell script "${k}")`, where });
          for (const program of run ?? []) found.push({ program, where });
        }
      }
    });
  }
  return found;
}

/** The runtime package list of scripts/bootstrap.sh (`npm start`): its `pkgs=(...)` line. */
function bootstrapRuntimePackages(): string[] {
  const text = fs.readFileSync(path.join(root, 'scripts/bootstrap.sh'), 'utf8');
  const m = /^pkgs=\(([^)]*)\)$/m.exec(text);
  if (!m) throw new Error('scripts/bootstrap.sh has no pkgs=(...) line');
  return m[1].trim().split(/\s+/);
}

describe("the bootstrap's runtime packages give every program the daemon runs", () => {
  const found = spawnedPrograms();

  test('each listed shell script names the programs listed for it', () => {
    for (const [k, programs] of Object.entries(SHELL_SCRIPTS)) {
      const [file, name] = k.split(': ');
      const text = fs.readFileSync(path.join(root, file), 'utf8');
      const decl = new RegExp(`const ${name} = \\[([\\s\\S]*?)\\]\\.join`).exec(text);
      expect([k, decl !== null]).toEqual([k, true]);
      for (const program of programs)
        expect([k, program, new RegExp(`\\b${program} `).test(decl![1])]).toEqual([k, program, true]);
    }
  });

  test('the reading of the sources finds the programs it must (the network tools among them)', () => {
    const programs = new Set(found.map((f) => f.program));
    for (const p of ['ip', 'tc', 'iptables', 'iptables-restore', 'iptables-save', 'nsenter', 'mount', 'perl']) {
      expect(programs).toContain(p);
    }
  });

  test("the network set-up's own check of its tools names the same packages as this table", () => {
    for (const t of NETWORK_TOOLS) expect([t.program, t.debianPackage]).toEqual([t.program, PACKAGE_OF[t.program]]);
  });

  test('every program the sources spawn has its package in the table', () => {
    const unknown = found.filter((f) => !(f.program in PACKAGE_OF)).map((f) => `${f.program} (${f.where})`);
    expect(unknown).toEqual([]);
  });

  test("every program's package is in the runtime list of scripts/bootstrap.sh, or required", () => {
    const runtime = new Set(bootstrapRuntimePackages());
    const missing = found
      .map((f) => ({ ...f, pkg: PACKAGE_OF[f.program] }))
      .filter((f) => f.pkg && !f.pkg.startsWith('(') && !runtime.has(f.pkg) && !REQUIRED.has(f.pkg))
      .map((f) => `${f.pkg} (for ${f.program}, ${f.where})`);
    expect([...new Set(missing)]).toEqual([]);
  });
});
