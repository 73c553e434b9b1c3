/**
 * The daemon's policy for errors nothing caught (src/daemon/error-policy.ts): a socket's or a
 * server's error with no listener (what a guest that ends its relayed connections badly can
 * cause) is logged and the process serves on; an unhandled rejection is logged; anything else
 * thrown ends the process with status 1. Played in a child node process, whose fate is the
 * point.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { isOperationalError } from '../../../src/daemon/error-policy';

const ROOT = path.join(__dirname, '..', '..', '..');

/** Run `body` in a node process with the policy installed; its status and output. */
function withPolicy(body: string): { status: number | null; out: string } {
  const script = `
    require(${JSON.stringify(path.join(ROOT, 'src', 'daemon', 'error-policy.ts'))}).installErrorPolicy();
    const net = require('node:net');
    ${body}
  `;
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('a listener error nothing handles is logged and the process serves on', () => {
  const r = withPolicy(`
    const server = net.createServer();
    setTimeout(() => server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' })), 10);
    setTimeout(() => Promise.reject(new Error('a relay nobody awaited')), 20);
    setTimeout(() => { console.log('still serving'); process.exit(0); }, 100);
  `);
  expect(r.out).toMatch(/uncaught EMFILE \(accept\): accept EMFILE; serving on/);
  expect(r.out).toMatch(/unhandled rejection, serving on: Error: a relay nobody awaited/);
  expect(r.out).toMatch(/still serving/);
  expect(r.status).toBe(0);
}, 60_000);

test('an error of our own code thrown and not caught ends the process with status 1', () => {
  const r = withPolicy(`
    setTimeout(() => { const o = undefined; o.x = 1; }, 10);
    setTimeout(() => { console.log('still serving'); process.exit(0); }, 200);
  `);
  expect(r.out).toMatch(/uncaught exception, exiting: TypeError/);
  expect(r.out).not.toMatch(/still serving/);
  expect(r.status).toBe(1);
}, 60_000);

test('which errors are a socket\u2019s or a system call\u2019s', () => {
  const err = (code?: string): Error => Object.assign(new Error('x'), code ? { code } : {});
  expect(isOperationalError(err('ECONNRESET'))).toBe(true);
  expect(isOperationalError(err('EPIPE'))).toBe(true);
  expect(isOperationalError(err('ERR_STREAM_WRITE_AFTER_END'))).toBe(true);
  expect(isOperationalError(err('ERR_SOCKET_CLOSED'))).toBe(true);
  expect(isOperationalError(err('ERR_INVALID_ARG_TYPE'))).toBe(false);
  expect(isOperationalError(err())).toBe(false);
  expect(isOperationalError(new TypeError('x'))).toBe(false);
  expect(isOperationalError('ECONNRESET')).toBe(false);
});
