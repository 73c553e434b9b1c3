/**
 * An error answered while the client still sends its body (docker cp's tar refused before it
 * is read) comes after the body, as Go's net/http answers: the client's writes all succeed and
 * it reads the error, instead of a broken pipe.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { NotImplementedError } from '../../../src/errors';
import { dockerErrorHandler } from '../../../src/api/v1.41/errors';
import { afterUnreadBody } from '../../../src/api/v1.41/kit/unread-body';

let server: http.Server;
let port: number;

beforeAll(async () => {
  const app = express();
  app.put('/refuse', () => {
    throw new NotImplementedError('not served for this container');
  });
  app.use(dockerErrorHandler);
  server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

test('the error is answered after the body the client was still sending', async () => {
  const chunks = 8;
  let written = 0;
  let answeredAt = -1;
  const result = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ port, method: 'PUT', path: '/refuse', headers: { 'Transfer-Encoding': 'chunked' } });
    req.on('response', (res) => {
      answeredAt = written;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    const send = (i: number) => {
      if (i === chunks) return void req.end();
      req.write(Buffer.alloc(4096, i), (err) => {
        if (err) return reject(err);
        written++;
        setTimeout(() => send(i + 1), 20);
      });
    };
    send(0);
  });
  expect(result.status).toBe(501);
  expect(JSON.parse(result.body)).toEqual({ message: 'not served for this container' });
  expect(answeredAt).toBe(chunks);
});

test('waits no longer than its bounds for a body that keeps coming', async () => {
  const { PassThrough } = await import('node:stream');
  const body = Object.assign(new PassThrough(), { complete: false }) as unknown as http.IncomingMessage;
  const t0 = Date.now();
  await new Promise<void>((r) => afterUnreadBody(body, r, 1024, 100));
  expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
  const big = Object.assign(new PassThrough(), { complete: false }) as unknown as http.IncomingMessage;
  const done = new Promise<void>((r) => afterUnreadBody(big, r, 1024, 60_000));
  (big as unknown as InstanceType<typeof PassThrough>).write(Buffer.alloc(2048));
  await done;
});
