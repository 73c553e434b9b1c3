/**
 * Throw-away TLS material made with openssl, as a user following Docker's "Protect the Docker
 * daemon socket" guide would: a CA, a server certificate for 127.0.0.1/localhost and a client
 * certificate, both signed by the CA; plus a second, unrelated CA with its own client
 * certificate (for "wrong CA" checks).
 *
 *   const t = makeTlsFiles(dir);
 *   podvisord --tlsverify --tlscacert t.ca --tlscert t.serverCert --tlskey t.serverKey
 *   DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=t.clientDir docker ...   (ca.pem, cert.pem, key.pem)
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Paths of the generated files. */
export interface TlsFiles {
  ca: string;
  serverCert: string;
  serverKey: string;
  /** A DOCKER_CERT_PATH directory: ca.pem, cert.pem, key.pem of a client the CA signed. */
  clientDir: string;
  /** A DOCKER_CERT_PATH directory whose client certificate (and CA) is another CA's. */
  otherCaClientDir: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

function makeCa(dir: string, name: string): void {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}-key.pem`,
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
    ],
    dir,
  );
}

function sign(dir: string, ca: string, name: string, cn: string, ext: string): void {
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(
    ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.pem`,
      '-CAkey',
      `${ca}-key.pem`,
      '-CAcreateserial',
      '-out',
      `${name}-cert.pem`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    ],
    dir,
  );
}

function certDir(dir: string, sub: string, ca: string, client: string): string {
  const d = path.join(dir, sub);
  fs.mkdirSync(d);
  fs.copyFileSync(path.join(dir, `${ca}.pem`), path.join(d, 'ca.pem'));
  fs.copyFileSync(path.join(dir, `${client}-cert.pem`), path.join(d, 'cert.pem'));
  fs.copyFileSync(path.join(dir, `${client}-key.pem`), path.join(d, 'key.pem'));
  return d;
}

/** Generate the files under `dir` (which must exist). */
export function makeTlsFiles(dir: string): TlsFiles {
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  sign(dir, 'ca', 'server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  sign(dir, 'ca', 'client', 'client', 'extendedKeyUsage=clientAuth\n');
  sign(dir, 'other-ca', 'stranger', 'client', 'extendedKeyUsage=clientAuth\n');
  const clientDir = certDir(dir, 'client', 'ca', 'client');
  // The stranger trusts the real CA (so the server is verified) but its own cert is the other CA's.
  const otherCaClientDir = certDir(dir, 'stranger', 'ca', 'stranger');
  return {
    ca: path.join(dir, 'ca.pem'),
    serverCert: path.join(dir, 'server-cert.pem'),
    serverKey: path.join(dir, 'server-key.pem'),
    clientDir,
    otherCaClientDir,
  };
}
