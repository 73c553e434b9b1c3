/**
 * Puts something real into the daemon under fuzz, so that cases reach past "no such
 * container": one image pulled from the fixture registry and one container created from it
 * (never started: no VM boots), and the hostile tars the routes that read one get. Best
 * effort: without the registry the fuzz runs on names only.
 */
import * as http from 'node:http';
import type { Known } from './cases';
import { hostileTars } from './tars';
import { fixtureRegistry } from '../fixtures/registry';

function call(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        socketPath,
        method,
        path,
        headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {},
        timeout: 60000,
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', () => resolve({ status: 0, text: '' }));
    req.on('timeout', () => req.destroy());
    req.end(data);
  });
}

/** Pull the fixture busybox and create one container; returns what exists. */
export async function prepareTarget(socketPath: string): Promise<Known> {
  const image = `${fixtureRegistry()}/busybox:latest`;
  const pull = await call(socketPath, 'POST', `/v1.41/images/create?fromImage=${encodeURIComponent(image)}`);
  const tars = await hostileTars();
  if (pull.status !== 200 || /errorDetail/.test(pull.text)) return { containers: [], images: [], tars };
  const created = await call(socketPath, 'POST', '/v1.41/containers/create?name=fuzz-target', {
    Image: image,
    Cmd: ['true'],
  });
  const id = created.status === 201 ? (JSON.parse(created.text) as { Id: string }).Id : undefined;
  return { containers: id ? [id, 'fuzz-target'] : [], images: [image, 'busybox-fuzz-missing'], tars };
}
