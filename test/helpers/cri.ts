/**
 * A CRI v1 test client over our own definitions (src/api/cri/proto/runtime-v1.proto) with
 * grpc-js, as the kubelet and crictl reach a runtime: unix socket, no TLS.
 *
 *   const cri = criClient(`${d.execRoot}/cri.sock`);
 *   const v = await cri.runtime('Version', {});
 *   const err = await cri.image('PullImage', { image: { image: 'x' } }).catch((e) => e);  // err.code: grpc.status
 *   cri.close();
 */
import * as grpc from '@grpc/grpc-js';
import { loadCriServices } from '../../src/api/cri/proto';

/** A call's failure: grpc-js's ServiceError (code, details). */
export type CriError = grpc.ServiceError;

/** A client of both CRI services on one socket. */
export interface CriClient {
  /** Call a runtime.v1.RuntimeService method. */
  runtime<T = Record<string, unknown>>(method: string, request: object, timeoutMs?: number): Promise<T>;
  /** Call a runtime.v1.ImageService method. */
  image<T = Record<string, unknown>>(method: string, request: object, timeoutMs?: number): Promise<T>;
  close(): void;
}

function call<T>(client: grpc.Client, method: string, request: object, timeoutMs: number): Promise<T> {
  const fn = (client as unknown as Record<string, unknown>)[method];
  if (typeof fn !== 'function') throw new Error(`no such CRI method: ${method}`);
  return new Promise<T>((resolve, reject) => {
    (fn as (...a: unknown[]) => void).call(
      client,
      request,
      { deadline: Date.now() + timeoutMs },
      (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res)),
    );
  });
}

/** Connect to the CRI socket at `socketPath`. */
export function criClient(socketPath: string): CriClient {
  const s = loadCriServices();
  const target = `unix://${socketPath}`;
  const creds = grpc.credentials.createInsecure();
  const runtime = new s.RuntimeService(target, creds);
  const image = new s.ImageService(target, creds);
  return {
    runtime: (m, r, t = 30_000) => call(runtime, m, r, t),
    image: (m, r, t = 120_000) => call(image, m, r, t),
    close: () => {
      runtime.close();
      image.close();
    },
  };
}

/** The rejection of `p` (fails the test when it resolves). */
export async function criFailure(p: Promise<unknown>): Promise<CriError> {
  return p.then(
    (v) => {
      throw new Error(`the call succeeded: ${JSON.stringify(v)}`);
    },
    (e: unknown) => e as CriError,
  );
}

/** One open GetContainerEvents stream: the events so far, in order. */
export interface CriEventStream {
  events: Array<Record<string, unknown> & { container_id: string; container_event_type: string; created_at: string }>;
  /** The stream's end, if it ended (its error's code, or 0). */
  ended?: number;
  close(): void;
}

/** Open RuntimeService/GetContainerEvents on the CRI socket at `socketPath`, collecting its events. */
export function criEventStream(socketPath: string): CriEventStream {
  const s = loadCriServices();
  const client = new s.RuntimeService(`unix://${socketPath}`, grpc.credentials.createInsecure());
  const call = (
    client as unknown as { GetContainerEvents(r: object): grpc.ClientReadableStream<unknown> }
  ).GetContainerEvents({});
  const out: CriEventStream = {
    events: [],
    close: () => {
      call.cancel();
      client.close();
    },
  };
  call.on('data', (m) => out.events.push(m as CriEventStream['events'][number]));
  call.on('error', (e: grpc.ServiceError) => (out.ended ??= e.code));
  call.on('end', () => (out.ended ??= 0));
  return out;
}
