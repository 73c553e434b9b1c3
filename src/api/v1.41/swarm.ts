/**
 * Swarm mode, which podvisor does not run: the answers dockerd gives on a node that is in no
 * swarm. Clients rely on them: docker-py's `leave_swarm(force=True)` (called by many test
 * suites' teardown) treats a 503 as "nothing to leave", and `docker info`-style tools read the
 * 503 of GET /swarm as "not a manager". Any other status (a 404 for an unknown route) would be
 * raised as an error.
 */
import type { Router } from 'express';
import { sendJson } from './kit/params';
import { typed } from './schema/routes';

/** dockerd's answer on a node that is not in a swarm (errdefs.Unavailable: 503). */
const NOT_IN_SWARM = 'This node is not part of a swarm';
/** dockerd's answer to the manager-only routes on such a node (also 503). */
const NOT_MANAGER =
  'This node is not a swarm manager. ' +
  'Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';

/** Register the swarm routes a node outside any swarm answers. */
export function register(router: Router): void {
  router.post(
    '/swarm/leave',
    typed('POST /swarm/leave', (_input, _req, res) => {
      sendJson(res, 503, { message: NOT_IN_SWARM });
    }),
  );
  const managerOnly = [
    'GET /swarm',
    'GET /swarm/unlockkey',
    'GET /nodes',
    'GET /services',
    'GET /tasks',
    'GET /secrets',
    'GET /configs',
  ] as const;
  for (const key of managerOnly) {
    router.get(
      key.slice(4),
      typed(key, (_input, _req, res) => {
        sendJson(res, 503, { message: NOT_MANAGER });
      }),
    );
  }
}
