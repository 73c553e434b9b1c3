/**
 * Clients that read a field their negotiated version no longer has, and would break where
 * podvisor can keep them working at no cost to any other client.
 *
 * Compose 1.x (Debian 12's docker-compose 1.29, on docker-py 5, which negotiates the daemon's
 * version) reads an image's `ContainerConfig` when it recreates a container. dockerd 26 drops
 * that field from image inspect at API 1.45, and Compose 1.29 then fails every recreate with
 * "KeyError: 'ContainerConfig'". podvisor keeps the field for Compose 1.x alone, found by the
 * User-Agent docker-py sends for it (`docker-compose/1.29.2 docker-py/5.0.3 Linux/...`).
 */
import type { IncomingMessage } from 'node:http';

/** What a request's client needs beyond its version. */
export interface ClientNeeds {
  /** Image inspect keeps ContainerConfig (and Container) at every version. */
  imageContainerConfig: boolean;
}

const COMPOSE_V1 = /(^|\s)docker-compose\/1\./;

/** The needs of the client that sent `req`, read from its User-Agent. */
export function clientNeedsOf(req: Pick<IncomingMessage, 'headers'>): ClientNeeds {
  const agent = req.headers['user-agent'] ?? '';
  return { imageContainerConfig: COMPOSE_V1.test(agent) };
}

/** A client with no needs beyond its version. */
export const NO_CLIENT_NEEDS: ClientNeeds = { imageContainerConfig: false };
