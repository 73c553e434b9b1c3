/**
 * The network probes of pod files, run from the host as the kubelet runs them from the node:
 * an HTTP GET (a status from 200 to 399 is a success; a redirect is not followed and counts
 * as the success it announces) or a TCP connect (connecting is a success), to the probe's
 * host or else the pod's address, within a timeout. The kubelet's request headers are sent
 * (a `User-Agent` of kube-probe/1.30, and `Accept` of any type) unless the probe sets its own; an HTTPS
 * probe does not verify the certificate (nor does the kubelet's). Only the answer's status
 * is read: the body is not, and the connection is closed once the status is in.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';

/** The kubelet's User-Agent for probes (kube-probe/<major>.<minor>). */
export const PROBE_USER_AGENT = 'kube-probe/1.30';

/** A network probe's result: whether it succeeded, and what it saw (a status line or an error). */
export interface NetProbeResult {
  ok: boolean;
  message: string;
}

/** What an HTTP probe asks. */
export interface HttpProbeTarget {
  host: string;
  port: number;
  path: string;
  scheme: 'http' | 'https';
  headers: Array<{ name: string; value: string }>;
  timeoutMs: number;
}

/** The request headers: the kubelet's defaults, replaced by the probe's own by name. */
function headersOf(t: HttpProbeTarget): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = { 'User-Agent': PROBE_USER_AGENT, Accept: '*/*' };
  for (const { name, value } of t.headers) {
    const key = Object.keys(out).find((k) => k.toLowerCase() === name.toLowerCase()) ?? name;
    const had = t.headers.filter((h) => h.name.toLowerCase() === name.toLowerCase());
    out[key] = had.length > 1 ? had.map((h) => h.value) : value;
  }
  return out;
}

/** GET the target once (see the module comment). Never rejects. */
export function httpProbe(t: HttpProbeTarget): Promise<NetProbeResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: NetProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const mod = t.scheme === 'https' ? https : http;
    const req = mod.request(
      {
        host: t.host,
        port: t.port,
        path: t.path,
        method: 'GET',
        headers: headersOf(t),
        agent: false,
        ...(t.scheme === 'https' ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        res.on('error', () => undefined);
        const ok = status >= 200 && status < 400;
        finish({ ok, message: ok ? `HTTP ${status}` : `HTTP probe failed with statuscode: ${status}` });
      },
    );
    const timer = setTimeout(
      () =>
        finish({
          ok: false,
          message: `Get "${t.scheme}://${t.host}:${t.port}${t.path}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
        }),
      t.timeoutMs,
    );
    timer.unref();
    req.on('error', (err) =>
      finish({ ok: false, message: `Get "${t.scheme}://${t.host}:${t.port}${t.path}": ${err.message}` }),
    );
    req.end();
  });
}

/** Connect to `host`:`port` once (see the module comment). Never rejects. */
export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<NetProbeResult> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const finish = (r: NetProbeResult) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` }), timeoutMs);
    timer.unref();
    sock.once('connect', () => finish({ ok: true, message: `connected to ${host}:${port}` }));
    sock.once('error', (err) => finish({ ok: false, message: `dial tcp ${host}:${port}: ${err.message}` }));
  });
}
