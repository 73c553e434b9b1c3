/**
 * The CRI streaming server (see server.ts): what the CRI runtime service uses to answer Exec,
 * Attach and PortForward, and the backend contract it must supply.
 */
export { StreamingServer, InvalidStreamingRequest, parseStreamAddress } from './server';
export type { StreamingServerOptions } from './server';
export { TooManyPendingRequests } from './tokens';
export { ResizeEvents } from './types';
export type {
  AttachRequest,
  ExecRequest,
  PortForwardRequest,
  SessionStreams,
  StreamingBackend,
  StreamOptions,
  TerminalSize,
} from './types';
export { forwardToTcp } from './tcp';
