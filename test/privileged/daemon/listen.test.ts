import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { lookupGid, planListeners, serveOn, type ApiServer } from '../../../src/daemon/listen';
import { openRawStream } from '../../../src/api/v1.41/hijack';
import { defaultOptions } from '../../../src/daemon/options';
import { makeTlsFiles, type TlsFiles } from '../../helpers/tls-certs';

/** An app with /_ping and an upgrade route that echoes its raw input (as attach does). */
function app(): express.Express {
  const a = express();
  a.get('/_ping', (_q, r) => void r.send('OK'));
  a.post('/echo', (q, r) => {
    // Like `wc -c`: the answer comes after the client half-closed its side.
    const s = openRawStream(q, r);
    let n = 0;
    s.input?.on('data', (d: Buffer) => (n += d.length));
    s.input?.on('end', () =>
      setTimeout(() => {
        s.write(Buffer.from(`${n} bytes`));
        s.end();
      }, 50),
    );
  });
  return a;
}

describe('listen: unix socket permissions and TLS', () => {
  let dir: string;
  let certs: TlsFiles;
  const servers: ApiServer[] = [];
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-listen-'));
    certs = makeTlsFiles(dir);
  });
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('group lookup by name or number, as dockerd', () => {
    const groups = path.join(dir, 'group');
    fs.writeFileSync(groups, 'root:x:0:\ndocker:x:998:alice\nadm:x:4:\n');
    expect(lookupGid('docker', groups)).toBe(998);
    expect(lookupGid('4', groups)).toBe(4);
    expect(lookupGid('1234', groups)).toBe(1234);
    expect(lookupGid('nosuch', groups)).toBeUndefined();
    const o = { ...defaultOptions(), hosts: ['unix:///x.sock'], group: 'nosuch', groupIsDefault: false };
    expect(() => planListeners(o, groups)).toThrow('failed to load listeners: group nosuch not found');
    expect(
      planListeners({ ...o, group: 'docker', groupIsDefault: true }, path.join(dir, 'nogroups')).gid,
    ).toBeUndefined();
  });

  test('the unix socket is 0660 with the asked group', async () => {
    const sock = path.join(dir, 'api.sock');
    fs.writeFileSync(sock, 'stale');
    const plan = planListeners({ ...defaultOptions(), hosts: [`unix://${sock}`], group: '4', groupIsDefault: false });
    servers.push(await serveOn(app(), `unix://${sock}`, plan));
    const st = fs.statSync(sock);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
    expect(st.gid).toBe(4);
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ socketPath: sock, path: '/_ping' }, (r) => {
          let b = '';
          r.on('data', (d) => (b += d));
          r.on('end', () => resolve(b));
        })
        .on('error', reject);
    });
    expect(body).toBe('OK');
  });

  const tlsPort = async (verify: boolean): Promise<number> => {
    const o = {
      ...defaultOptions(),
      hosts: ['tcp://127.0.0.1:0'],
      tls: true,
      tlsVerify: verify,
      tlsCaCert: certs.ca,
      tlsCert: certs.serverCert,
      tlsKey: certs.serverKey,
    };
    const s = await serveOn(app(), 'tcp://127.0.0.1:0', planListeners(o));
    servers.push(s);
    return (s.address() as AddressInfo).port;
  };
  const client = (dir2: string) => ({
    ca: fs.readFileSync(path.join(dir2, 'ca.pem')),
    cert: fs.readFileSync(path.join(dir2, 'cert.pem')),
    key: fs.readFileSync(path.join(dir2, 'key.pem')),
  });
  const ping = (port: number, o: https.RequestOptions) =>
    new Promise<number>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, path: '/_ping', ...o }, (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        })
        .on('error', reject);
    });

  test('--tlsverify: a client certificate of the CA is required', async () => {
    const port = await tlsPort(true);
    expect(await ping(port, client(certs.clientDir))).toBe(200);
    await expect(ping(port, { ca: client(certs.clientDir).ca })).rejects.toThrow();
    await expect(ping(port, client(certs.otherCaClientDir))).rejects.toThrow();
    // Plain HTTP on the TLS port gets nothing useful.
    await expect(
      new Promise((resolve, reject) =>
        http.get({ host: '127.0.0.1', port, path: '/_ping' }, resolve).on('error', reject),
      ),
    ).rejects.toThrow();
  });

  test('--tls without verify serves clients without certificates', async () => {
    const port = await tlsPort(false);
    expect(await ping(port, { ca: client(certs.clientDir).ca })).toBe(200);
  });

  test('a hijacked (upgraded) stream works over TLS', async () => {
    const port = await tlsPort(true);
    const got = await new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...client(certs.clientDir) }, () => {
        s.write('POST /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n');
        s.write('hello over tls');
        s.end();
      });
      let out = '';
      s.on('data', (d) => (out += d));
      s.on('end', () => resolve(out));
      s.on('error', reject);
    });
    expect(got).toMatch(/^HTTP\/1.1 101 UPGRADED\r\n/);
    expect(got).toMatch(/\r\n\r\n14 bytes$/);
  });
});
