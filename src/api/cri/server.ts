/**
 * The CRI v1 gRPC server: runtime.v1.RuntimeService and runtime.v1.ImageService on one
 * grpc-js Server, every RPC of our definitions (./proto/runtime-v1.proto) registered. The
 * calls served are wired to their services (./runtime-info.ts, ./images.ts, ./runtime.ts,
 * ./runtime-events.ts); every other call answers UNIMPLEMENTED naming itself.
 *
 * Handlers are plain async functions of the request (and an AbortSignal that fires when the
 * client cancels); a server-streaming call (GetContainerEvents) gets an EventClient to send on
 * and a signal that fires when the client goes away. Errors go through the one mapper of this
 * transport (./errors.ts).
 *
 * The server is not bound here: the daemon hands it the connections of its own unix sockets
 * (src/daemon/cri-listen.ts), so socket modes, groups and shutdown work as for the Docker API.
 */
import * as grpc from '@grpc/grpc-js';
import { loadCriServices } from './proto';
import { toServiceError } from './errors';
import { RuntimeInfo } from './runtime-info';
import { CriImageService } from './images';
import type { CriRuntime } from './runtime';
import type { CriEvents, EventClient } from './runtime-events';

/** One unary call's implementation. */
export type UnaryImpl = (request: never, signal: AbortSignal) => unknown;

/**
 * One server-streaming call's implementation: sends to `client` until `signal` fires (the
 * client went away); a throw ends the stream with that error.
 */
export type StreamImpl = (request: never, client: EventClient, signal: AbortSignal) => void;

/** The implementations given to the server, by method name of each service. */
export interface CriHandlers {
  runtime: Record<string, UnaryImpl>;
  image: Record<string, UnaryImpl>;
  /** RuntimeService's server-streaming calls (GetContainerEvents). */
  runtimeStreams?: Record<string, StreamImpl>;
}

/** What the CRI front end is built from. */
export interface CriDeps {
  info: RuntimeInfo;
  images: CriImageService;
  /** The sandbox, container and exec calls (./runtime.ts); absent: they answer UNIMPLEMENTED. */
  runtime?: CriRuntime;
  /** GetContainerEvents' streams (./runtime-events.ts); absent: UNIMPLEMENTED. */
  events?: CriEvents;
}

/** The calls served so far. */
export function criHandlers(deps: CriDeps): CriHandlers {
  return {
    runtime: {
      Version: () => deps.info.version(),
      Status: (req: { verbose?: boolean }) => deps.info.status(!!req.verbose),
      UpdateRuntimeConfig: (req: Parameters<RuntimeInfo['updateRuntimeConfig']>[0]) =>
        deps.info.updateRuntimeConfig(req),
      ...(deps.runtime ? runtimeCalls(deps.runtime) : {}),
    },
    image: {
      ListImages: (req: { filter?: Parameters<CriImageService['list']>[0] }) => deps.images.list(req.filter),
      ImageStatus: (req: Parameters<CriImageService['status']>[0]) => deps.images.status(req),
      PullImage: (req: Parameters<CriImageService['pull']>[0], signal: AbortSignal) => deps.images.pull(req, signal),
      RemoveImage: (req: Parameters<CriImageService['remove']>[0]) => deps.images.remove(req),
      ImageFsInfo: () => deps.images.fsInfo(),
    },
    runtimeStreams: deps.events ? { GetContainerEvents: eventsCall(deps.events) } : {},
  };
}

/** The sandbox, container and exec calls of RuntimeService. */
function runtimeCalls(rt: CriRuntime): Record<string, UnaryImpl> {
  return {
    RunPodSandbox: (req) => rt.runPodSandbox(req),
    StopPodSandbox: (req) => rt.stopPodSandbox(req),
    RemovePodSandbox: (req) => rt.removePodSandbox(req),
    PodSandboxStatus: (req) => rt.podSandboxStatus(req),
    ListPodSandbox: (req) => rt.listPodSandbox(req),
    CreateContainer: (req) => rt.createContainer(req),
    StartContainer: (req) => rt.startContainer(req),
    StopContainer: (req) => rt.stopContainer(req),
    RemoveContainer: (req) => rt.removeContainer(req),
    ListContainers: (req) => rt.listContainers(req),
    ContainerStatus: (req) => rt.containerStatus(req),
    ExecSync: (req, signal) => rt.execSync(req, signal),
    ReopenContainerLog: (req) => rt.reopenContainerLog(req),
    CheckpointContainer: (req) => rt.checkpointContainer(req),
    Exec: (req) => rt.exec(req),
    Attach: (req) => rt.attach(req),
    PortForward: (req) => rt.portForward(req),
    ContainerStats: (req) => rt.containerStats(req),
    ListContainerStats: (req) => rt.listContainerStats(req),
    PodSandboxStats: (req) => rt.podSandboxStats(req),
    ListPodSandboxStats: (req) => rt.listPodSandboxStats(req),
    UpdateContainerResources: (req) => rt.updateContainerResources(req),
  };
}

/** GetContainerEvents: the stream of one client. */
function eventsCall(events: CriEvents): StreamImpl {
  return (_req, client, signal) => events.serve(client, signal);
}

/** The answer of a call that is not served yet. */
function unimplemented(service: string, method: string): Partial<grpc.ServiceError> {
  const details = `podvisor does not serve ${service}/${method} yet`;
  return { code: grpc.status.UNIMPLEMENTED, details, message: details };
}

/** grpc-js handlers for every method of `service`: `impls` where given, UNIMPLEMENTED otherwise. */
function serviceImplementation(
  serviceName: string,
  definition: grpc.ServiceDefinition,
  impls: Record<string, UnaryImpl>,
  streams: Record<string, StreamImpl> = {},
): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [method, def] of Object.entries(definition)) {
    const impl = impls[method];
    const name = `${serviceName}/${method}`;
    if (def.responseStream) {
      const stream = streams[method];
      out[method] = ((call: grpc.ServerWritableStream<unknown, unknown>) => {
        if (!stream) return call.emit('error', unimplemented(serviceName, method));
        serveStream(call, name, stream);
      }) as grpc.handleServerStreamingCall<unknown, unknown>;
      continue;
    }
    out[method] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      if (!impl) return callback(unimplemented(serviceName, method));
      const controller = new AbortController();
      call.once('cancelled', () => controller.abort(new Error(`${name}: cancelled by the client`)));
      Promise.resolve()
        .then(() => impl(call.request as never, controller.signal))
        .then(
          (res) => callback(null, res),
          (err: unknown) => callback(toServiceError(err, name)),
        );
    }) as grpc.handleUnaryCall<unknown, unknown>;
  }
  return out;
}

/**
 * Run a server-streaming impl on `call`: its signal fires when the client cancels or the stream
 * closes; a failure (thrown, or `client.fail`) ends the stream with its gRPC status.
 */
function serveStream(call: grpc.ServerWritableStream<unknown, unknown>, name: string, impl: StreamImpl): void {
  const controller = new AbortController();
  const stop = (): void => controller.abort(new Error(`${name}: the client went away`));
  call.once('cancelled', stop);
  call.once('close', stop);
  call.once('finish', stop);
  const client: EventClient = {
    send: (msg) => void call.write(msg),
    backlog: () => call.writableLength,
    fail: (err) => {
      stop();
      call.emit('error', toServiceError(err, name));
    },
  };
  try {
    impl(call.request as never, client, controller.signal);
  } catch (err) {
    client.fail(err as Error);
  }
}

/** A grpc-js Server with both CRI services (not bound: see the module comment). */
export function createCriServer(handlers: CriHandlers): grpc.Server {
  const services = loadCriServices();
  const server = new grpc.Server({
    // The kubelet sends and takes up to 16 MiB messages (ListContainers of a large node...).
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    'grpc.max_send_message_length': 16 * 1024 * 1024,
  });
  server.addService(
    services.RuntimeService.service,
    serviceImplementation(
      'runtime.v1.RuntimeService',
      services.RuntimeService.service,
      handlers.runtime,
      handlers.runtimeStreams,
    ),
  );
  server.addService(
    services.ImageService.service,
    serviceImplementation('runtime.v1.ImageService', services.ImageService.service, handlers.image),
  );
  return server;
}
