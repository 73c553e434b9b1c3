/**
 * Every route the v1.41 API serves, with the schema of its query and body: the one table the
 * decoding layer reads. A handler is registered through `typed(key, fn)` and receives the
 * decoded input (`Static<>` of the route's schemas); it never reads req.query or req.body.
 * test/unit/api/schema-routes.test.ts walks the express router and checks that every route
 * is in this table and registered through `typed`.
 */
import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import type { Request, RequestHandler, Response } from 'express';
import { Q, decodeQuery } from './query';
import { decodeBody } from '../../../util/go-decode';
import {
  AuthBodySchema,
  CreateBodySchema,
  ExecCreateBodySchema,
  ExecStartBodySchema,
  UpdateBodySchema,
} from '../docker/docker-schema';
import { readJson, yieldLoop } from '../kit/params';
import { NetworkConnectBodySchema, NetworkCreateBodySchema, NetworkDisconnectBodySchema } from './network-bodies';
import { VolumeCreateBodySchema } from './volume-bodies';
import { CheckpointCreateBodySchema } from './checkpoint-bodies';

/** Filters of GET /containers/json. */
export const CONTAINER_LIST_FILTERS = [
  'status',
  'name',
  'label',
  'id',
  'ancestor',
  'exited',
  'before',
  'since',
  'health',
  'isolation',
  'network',
  'publish',
  'expose',
  'volume',
  'is-task',
];
/** Filters of GET /events. */
export const EVENT_FILTERS = [
  'config',
  'container',
  'daemon',
  'event',
  'image',
  'label',
  'network',
  'node',
  'plugin',
  'scope',
  'secret',
  'service',
  'type',
  'volume',
];

const none = Type.Object({});
const attachQuery = (dflt: boolean) =>
  Type.Object({
    logs: Q.bool(),
    stream: Q.bool(dflt),
    stdin: Q.bool(),
    stdout: Q.bool(dflt),
    stderr: Q.bool(dflt),
    detachKeys: Q.string(),
  });
const stopQuery = Type.Object({ t: Q.int(), signal: Q.string() });

/** Route key -> the schemas of its query and body (absent body: the body is not read). */
export const ROUTES = {
  'GET /_ping': { query: none },
  'HEAD /_ping': { query: none },
  'GET /version': { query: none },
  'GET /info': { query: none },
  'GET /events': { query: Type.Object({ since: Q.string(), until: Q.string(), filters: Q.filters(EVENT_FILTERS) }) },
  'GET /system/df': { query: Type.Object({ type: Q.strings() }) },
  'POST /auth': { query: none, body: AuthBodySchema },
  'POST /images/create': {
    query: Type.Object({
      fromImage: Q.string(),
      fromSrc: Q.optString(),
      tag: Q.string(),
      platform: Q.string(),
      repo: Q.string(),
      message: Q.string(),
      changes: Q.strings(),
    }),
  },
  'GET /images/json': {
    query: Type.Object({
      all: Q.bool(),
      digests: Q.bool(),
      filter: Q.string(),
      'shared-size': Q.bool(),
      // `until` from API 1.42 (versions/queries.ts refuses it below).
      filters: Q.filters(['reference', 'dangling', 'label', 'before', 'since', 'until']),
    }),
  },
  'POST /images/prune': { query: Type.Object({ filters: Q.filters(['dangling', 'label', 'label!', 'until']) }) },
  'GET /distribution/*name/json': { query: none },
  'GET /images/*name/json': { query: none },
  'GET /images/get': { query: Type.Object({ names: Q.strings() }) },
  'GET /images/*name/get': { query: none },
  'POST /images/load': { query: Type.Object({ quiet: Q.bool() }) },
  'POST /images/*name/push': { query: Type.Object({ tag: Q.string() }) },
  'GET /images/*name/history': { query: none },
  'POST /images/*name/tag': { query: Type.Object({ repo: Q.string(), tag: Q.string() }) },
  'POST /build': {
    query: Type.Object({
      dockerfile: Q.string(),
      t: Q.strings(),
      q: Q.bool(),
      nocache: Q.bool(),
      cachefrom: Q.string(),
      rm: Q.bool(true),
      forcerm: Q.bool(),
      pull: Q.bool(),
      buildargs: Q.string(),
      labels: Q.string(),
      target: Q.string(),
      version: Q.string(),
      remote: Q.string(),
      networkmode: Q.string(),
      extrahosts: Q.strings(),
      cpusetcpus: Q.string(),
      memory: Q.int(),
      shmsize: Q.int(),
      platform: Q.string(),
      squash: Q.bool(),
    }),
  },
  'POST /build/prune': { query: none },
  'POST /commit': {
    query: Type.Object({
      container: Q.string(),
      repo: Q.string(),
      tag: Q.string(),
      comment: Q.string(),
      author: Q.string(),
      pause: Q.bool(true),
      changes: Q.strings(),
    }),
  },
  'DELETE /images/*name': { query: Type.Object({ force: Q.bool(), noprune: Q.bool() }) },
  'POST /containers/create': { query: Type.Object({ name: Q.string() }), body: CreateBodySchema },
  'GET /containers/json': {
    query: Type.Object({ all: Q.bool(), limit: Q.int(), size: Q.bool(), filters: Q.filters(CONTAINER_LIST_FILTERS) }),
  },
  'GET /containers/:id/json': { query: Type.Object({ size: Q.bool() }) },
  'POST /containers/:id/start': {
    query: Type.Object({ detachKeys: Q.string(), checkpoint: Q.string(), 'checkpoint-dir': Q.string() }),
  },
  'GET /containers/:id/checkpoints': { query: Type.Object({ dir: Q.string() }) },
  'POST /containers/:id/checkpoints': { query: none, body: CheckpointCreateBodySchema },
  'DELETE /containers/:id/checkpoints/:name': { query: Type.Object({ dir: Q.string() }) },
  'POST /containers/:id/stop': { query: stopQuery },
  'POST /containers/:id/restart': { query: stopQuery },
  'POST /containers/:id/kill': { query: Type.Object({ signal: Q.string() }) },
  'POST /containers/:id/pause': { query: none },
  'POST /containers/:id/unpause': { query: none },
  'POST /containers/:id/rename': { query: Type.Object({ name: Q.string() }) },
  'POST /containers/:id/resize': { query: Type.Object({ h: Q.int(), w: Q.int() }) },
  'POST /containers/:id/update': { query: none, body: UpdateBodySchema },
  'DELETE /containers/:id': { query: Type.Object({ force: Q.bool(), link: Q.bool(), v: Q.bool() }) },
  'DELETE /containers/:id/:alias': { query: Type.Object({ force: Q.bool(), link: Q.bool(), v: Q.bool() }) },
  'POST /containers/prune': { query: Type.Object({ filters: Q.filters(['label', 'label!', 'until']) }) },
  'POST /containers/:id/wait': { query: Type.Object({ condition: Q.string() }) },
  'GET /containers/:id/logs': {
    query: Type.Object({
      stdout: Q.bool(),
      stderr: Q.bool(),
      timestamps: Q.bool(),
      follow: Q.bool(),
      tail: Q.string(),
      since: Q.string(),
      until: Q.string(),
    }),
  },
  'GET /containers/:id/top': { query: Type.Object({ ps_args: Q.string() }) },
  'GET /containers/:id/stats': { query: Type.Object({ stream: Q.bool(true), 'one-shot': Q.bool() }) },
  'POST /containers/:id/attach': { query: attachQuery(false) },
  // The streams' defaults depend on the API version (versions/queries.ts, wsAttachStreams).
  'GET /containers/:id/attach/ws': {
    query: Type.Object({
      logs: Q.bool(),
      stream: Q.bool(true),
      stdin: Q.optString(),
      stdout: Q.optString(),
      stderr: Q.optString(),
      detachKeys: Q.string(),
    }),
  },
  'POST /containers/:id/exec': { query: none, body: ExecCreateBodySchema },
  'POST /exec/:id/start': { query: none, body: ExecStartBodySchema },
  'POST /exec/:id/resize': { query: Type.Object({ h: Q.int(), w: Q.int() }) },
  'GET /exec/:id/json': { query: none },
  'HEAD /containers/:id/archive': { query: Type.Object({ path: Q.string() }) },
  'GET /containers/:id/archive': { query: Type.Object({ path: Q.string() }) },
  'PUT /containers/:id/archive': {
    query: Type.Object({ path: Q.string(), noOverwriteDirNonDir: Q.bool(), copyUIDGID: Q.bool() }),
  },
  'GET /containers/:id/changes': { query: none },
  'GET /containers/:id/export': { query: none },
  'GET /networks': {
    query: Type.Object({ filters: Q.filters(['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type']) }),
  },
  'GET /networks/:id': { query: Type.Object({ verbose: Q.bool(), scope: Q.string() }) },
  'POST /networks/create': { query: none, body: NetworkCreateBodySchema },
  'DELETE /networks/:id': { query: none },
  'POST /networks/prune': { query: Type.Object({ filters: Q.filters(['label', 'label!', 'until']) }) },
  'POST /networks/:id/connect': { query: none, body: NetworkConnectBodySchema },
  'POST /networks/:id/disconnect': { query: none, body: NetworkDisconnectBodySchema },
  'GET /volumes': { query: Type.Object({ filters: Q.filters(['dangling', 'driver', 'label', 'name']) }) },
  'POST /volumes/create': { query: none, body: VolumeCreateBodySchema },
  'GET /volumes/:name': { query: none },
  'DELETE /volumes/:name': { query: Type.Object({ force: Q.bool() }) },
  // A cluster volume's update (from API 1.42): refused as dockerd does without swarm (versions/queries.ts).
  'PUT /volumes/:name': { query: none },
  // `all` from API 1.42 (versions/queries.ts refuses it below).
  'POST /volumes/prune': { query: Type.Object({ filters: Q.filters(['label', 'label!', 'all']) }) },
  'POST /swarm/leave': { query: Type.Object({ force: Q.bool() }) },
  'GET /swarm': { query: none },
  'GET /swarm/unlockkey': { query: none },
  'GET /nodes': { query: Type.Object({ filters: Q.string() }) },
  'GET /services': { query: Type.Object({ filters: Q.string(), status: Q.bool() }) },
  'GET /tasks': { query: Type.Object({ filters: Q.string() }) },
  'GET /secrets': { query: Type.Object({ filters: Q.string() }) },
  'GET /configs': { query: Type.Object({ filters: Q.string() }) },
} satisfies Record<string, { query: TObject; body?: TSchema }>;

/** A route of the table. */
export type RouteKey = keyof typeof ROUTES;
type Spec<K extends RouteKey> = (typeof ROUTES)[K];

/** The decoded input of a route: its query, and its body when it has one. */
export interface Input<K extends RouteKey> {
  /** Path parameters (`:id`; a `*name` wildcard joined with '/'). */
  params: Record<string, string>;
  query: Static<Spec<K>['query']>;
  body: Spec<K> extends { body: infer B extends TSchema } ? Static<B> : undefined;
}

/** Marks a handler registered through `typed` (checked by the router-walk test). */
export const TYPED = Symbol('podvisor.typed');

/** Decode a request's input for route `key` (400 with dockerd's message when it does not fit). */
export async function decodeInput<K extends RouteKey>(key: K, req: Request): Promise<Input<K>> {
  const spec = ROUTES[key] as { query: TObject; body?: TSchema };
  const query = decodeQuery(spec.query, req.query as Record<string, unknown>);
  let body: unknown;
  if (spec.body) {
    const json = await readJson(req);
    // Let other requests in between parsing and decoding a big body (event-loop budget).
    await yieldLoop();
    body = decodeBody(spec.body, json);
  }
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.params as Record<string, string | string[]>))
    params[k] = Array.isArray(v) ? v.join('/') : v;
  return { params, query, body } as Input<K>;
}

/** An express handler for route `key` whose `fn` gets the decoded input. */
export function typed<K extends RouteKey>(
  key: K,
  fn: (input: Input<K>, req: Request, res: Response) => Promise<void> | void,
): RequestHandler {
  const h: RequestHandler = async (req, res) => {
    const input = await decodeInput(key, req);
    await fn(input, req, res);
  };
  Object.defineProperty(h, TYPED, { value: key });
  return h;
}
