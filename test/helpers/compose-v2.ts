/**
 * Docker Compose v2 for the compat tests: Debian 13's docker-compose 2.26, unpacked into the
 * cache by scripts/compose-v2.sh (run by `scripts/bootstrap.sh --test`), run as a plugin of the
 * stock docker CLI (`docker compose ...`) through the daemon's private DOCKER_CONFIG.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliResult } from './docker-cli';

/** The unpacked plugin binary, or '' when it cannot be had (the test then fails on that). */
export function composeV2Plugin(): string {
  return execFileSync('bash', [path.resolve(__dirname, '../../scripts/compose-v2.sh')], { encoding: 'utf8' }).trim();
}

/**
 * `env` (a daemon's: DOCKER_HOST and a DOCKER_CONFIG of its own) with Compose v2 as the CLI's
 * `compose` plugin: DOCKER_CONFIG/cli-plugins/docker-compose links to `plugin`. Builds use
 * the classic builder (DOCKER_BUILDKIT=0): podvisor has no BuildKit (docs/limitations.md).
 */
export function composeV2Env(env: NodeJS.ProcessEnv, plugin: string): NodeJS.ProcessEnv {
  const plugins = path.join(env.DOCKER_CONFIG!, 'cli-plugins');
  fs.mkdirSync(plugins, { recursive: true });
  fs.rmSync(path.join(plugins, 'docker-compose'), { force: true });
  fs.symlinkSync(plugin, path.join(plugins, 'docker-compose'));
  return { ...env, DOCKER_BUILDKIT: '0' };
}

/**
 * `docker compose --ansi never -p PROJECT ARGS` in `dir` with `env`: the exit code and the
 * whole stdout and stderr (Compose v2 writes its progress to stderr). Killed after `timeoutMs`.
 */
export function composeV2(
  env: NodeJS.ProcessEnv,
  dir: string,
  project: string,
  args: string[],
  timeoutMs = 300000,
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn('docker', ['compose', '--ansi', 'never', '-p', project, ...args], {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, err });
    });
  });
}
