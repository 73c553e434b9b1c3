/**
 * Where dockerd 20.10 answers with a 5xx too, sampled with `npm run fuzz` in compare mode
 * (FUZZ_DOCKERD=unix:///tmp/dockerd-dpy/docker.sock) and by hand with curl. A 5xx from
 * podvisor is a failure unless the input belongs to one of these classes:
 *
 *  - a pull, a distribution lookup or a login against a registry that cannot be reached
 *    (`fromImage=127.0.0.1:1/x`, a name on an unreachable docker.io, no fromImage at all):
 *    dockerd answers 500 with the Go dial error ("dial tcp ...: connection refused",
 *    "no such host", `Get "http:": http: no Host in request URL`);
 *  - the same routes when the registry itself fails the request (a 5xx of its own, such as
 *    the fixture registry's `{"errors":[{"code":"UNKNOWN","message":"unknown error"}]}` while
 *    another test file pushes to it): dockerd answers 500 with the registry's error, as
 *    podvisor does (`unknown: unknown error`);
 *  - `POST /images/{name}/tag` with a missing or invalid `repo`: dockerd answers 500
 *    "invalid reference format..." (its tag route does not mark the parse error as a bad
 *    parameter);
 *  - `POST /images/create?fromSrc=<url>` (import) whose source cannot be fetched: dockerd
 *    answers 500 with the dial error, as podvisor does (the same pattern as a pull);
 *  - the swarm routes on a node in no swarm (`/swarm`, `/swarm/leave`, `/swarm/unlockkey`,
 *    `/nodes`, `/services`, `/tasks`, `/secrets`, `/configs`): dockerd answers 503 "This node
 *    is not part of a swarm" / "... not a swarm manager ..." whatever the query or body
 *    (measured; only a `filters` that is not JSON comes first there, as a 400 or 500);
 *  - `PUT /volumes/{name}`, a cluster volume's update (API 1.42 and later): dockerd 26 answers
 *    503 "volume update only valid for cluster volumes, but swarm is unavailable" whatever the
 *    query or body (measured with curl against dockerd 26.1: empty, cut and chunked bodies),
 *    and so for `PUT /volumes/prune` and `PUT /volumes/create`: its PUT route's `{name:.*}`
 *    takes them as names (moby's api/server/router/volume);
 *  - the checkpoint routes (`/containers/{id}/checkpoints`, `.../checkpoints/{name}`) of a
 *    daemon started without `--experimental`: dockerd answers 501 "This experimental feature
 *    is disabled by default. ..." whatever the container, query or body (measured with curl
 *    against dockerd 20.10: an unknown container, a bad `filters`, a cut JSON body, DELETE).
 */
import type { FuzzCase } from './cases';

const REGISTRY_ROUTES = new Set(['/images/create', '/distribution/*name/json', '/auth']);
const SWARM_ROUTES = new Set([
  '/swarm',
  '/swarm/leave',
  '/swarm/unlockkey',
  '/nodes',
  '/services',
  '/tasks',
  '/secrets',
  '/configs',
]);
const NOT_IN_SWARM = /not part of a swarm|not a swarm manager/;
/** Every route a `PUT /volumes/{name}` also matches: dockerd's PUT route takes any name, `prune` and `create` too. */
const VOLUME_UPDATE_ROUTES = new Set(['/volumes/:name', '/volumes/prune', '/volumes/create']);
const CLUSTER_VOLUMES_ONLY = /volume update only valid for cluster volumes, but swarm is unavailable/;
const NETWORK_ERROR =
  /dial tcp|no such host|connection refused|no Host in request URL|i\/o timeout|ECONNREFUSED|ENOTFOUND|EAI_AGAIN/;
const REGISTRY_FAILED = /^\{"message":"unknown: unknown error/;
const CHECKPOINT_ROUTE = /^\/containers\/[^/]+\/checkpoints(\/[^/]+)?$/;
const EXPERIMENTAL_OFF = /This experimental feature is disabled by default/;

/** True when dockerd answers this class of input with a 5xx too. */
export function dockerdAnswers5xx(c: FuzzCase, status: number, body = ''): boolean {
  if (REGISTRY_ROUTES.has(c.route) && status === 500 && (NETWORK_ERROR.test(body) || REGISTRY_FAILED.test(body)))
    return true;
  if (SWARM_ROUTES.has(c.route) && status === 503 && NOT_IN_SWARM.test(body)) return true;
  if (VOLUME_UPDATE_ROUTES.has(c.route) && c.method === 'PUT' && status === 503 && CLUSTER_VOLUMES_ONLY.test(body))
    return true;
  if (c.route === '/images/*name/tag' && status === 500 && /invalid reference format/.test(body)) return true;
  if (CHECKPOINT_ROUTE.test(c.route) && status === 501 && EXPERIMENTAL_OFF.test(body)) return true;
  return false;
}
