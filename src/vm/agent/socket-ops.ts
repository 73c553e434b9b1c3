/**
 * Requests and answers of the agent's socket operations (guest/include/podvisor_agent.h):
 * SOCKET_LISTEN and SOCKET_ACCEPT (a host socket bound into a container as a single file), and
 * SOCKET_EVENT, SOCKET_ANSWER, SOCKET_DIAL and FILE_EVENT (sockets and inotify events of a 9p
 * share across the VM's edge). What the host sends is checked here before it goes (InvalidArgumentError); an
 * event's kind and token are decoded strictly (a malformed answer is a protocol error), while
 * its tag and path stay the guest's words, for the pod layer to check against what it shares.
 */
import { InvalidArgumentError } from '../../errors';
import type {
  FileEventRequest,
  PeerCredentials,
  ShareSocketEvent,
  SocketAcceptRequest,
  SocketAnswerRequest,
  SocketDialRequest,
  SocketListenRequest,
} from '../types';
import { Limits, SocketEvent, Tag } from './protocol';
import { checkId, checkPath } from './requests';
import { protocolError, TlvWriter, type TlvReader } from './tlv';

const TAG_RE = /^[A-Za-z0-9_.-]{1,36}$/;

/** The largest uid or gid: 2^32-1 is no id (the kernel's (uid_t)-1). */
const MAX_ID = 0xfffffffe;

/** A listener number of SOCKET_LISTEN and SOCKET_ACCEPT: a u32. */
function checkListener(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError(`invalid listener ${n}`);
}

/** SOCKET_LISTEN. */
export function encodeSocketListen(req: SocketListenRequest): TlvWriter {
  checkId(req.containerId, 'container id');
  checkPath(req.path);
  if (!Number.isInteger(req.mode) || req.mode < 0 || req.mode > 0o777)
    throw new InvalidArgumentError(`invalid socket mode ${req.mode}`);
  checkListener(req.listener);
  const w = new TlvWriter()
    .str(Tag.CONTAINER_ID, req.containerId)
    .str(Tag.PATH, req.path, Limits.MAX_PATH)
    .u32(Tag.MODE, req.mode)
    .u32(Tag.LISTENER, req.listener);
  if (req.owner) {
    const { uid, gid } = req.owner;
    for (const id of [uid, gid])
      if (!Number.isInteger(id) || id < 0 || id > MAX_ID) throw new InvalidArgumentError(`invalid socket owner ${id}`);
    w.u32(Tag.UID, uid).u32(Tag.GID, gid);
  }
  return w;
}

/** SOCKET_ACCEPT (the process's handle is added by the caller). */
export function encodeSocketAccept(req: SocketAcceptRequest, window: number): TlvWriter {
  checkId(req.containerId, 'container id');
  checkId(req.processId, 'process id');
  checkListener(req.listener);
  return new TlvWriter()
    .str(Tag.CONTAINER_ID, req.containerId)
    .u32(Tag.LISTENER, req.listener)
    .str(Tag.PROCESS_ID, req.processId)
    .u32(Tag.WINDOW, window);
}

function checkToken(token: number): void {
  if (!Number.isInteger(token) || token < 1 || token > 0xffffffff)
    throw new InvalidArgumentError(`invalid socket token ${token}`);
}

/**
 * Who connected, from an answer's UID GID GROUP... (SOCKET_ACCEPT's, a CONNECT event's);
 * undefined when it has none (an agent or guest kernel that predates them). Strict: a GID
 * without a UID or the other way, an id out of range or more than Limits.MAX_GROUPS groups is
 * a protocol error, never a connection made as something else.
 */
export function decodePeer(r: TlvReader): PeerCredentials | undefined {
  const uid = r.u32(Tag.UID);
  const gid = r.u32(Tag.GID);
  const groups = r.u32s(Tag.GROUP);
  if (uid === undefined && gid === undefined && groups.length === 0) return undefined;
  if (uid === undefined || gid === undefined) throw protocolError('peer credentials without a uid or a gid');
  if (groups.length > Limits.MAX_GROUPS) throw protocolError(`peer with more than ${Limits.MAX_GROUPS} groups`);
  for (const id of [uid, gid, ...groups]) if (id > MAX_ID) throw protocolError(`peer id ${id} out of range`);
  return { uid, gid, groups };
}

/** SOCKET_EVENT's answer. */
export function decodeSocketEvent(r: TlvReader): ShareSocketEvent {
  const kind = r.needU32(Tag.SOCKET_EVENT);
  const kinds: Record<number, ShareSocketEvent['kind']> = {
    [SocketEvent.CONNECT]: 'connect',
    [SocketEvent.BOUND]: 'bound',
    [SocketEvent.WATCH]: 'watch',
  };
  if (!kinds[kind]) throw protocolError(`SOCKET_EVENT of unknown kind ${kind}`);
  const ev: ShareSocketEvent = {
    kind: kinds[kind],
    token: r.needU32(Tag.SOCKET_TOKEN),
    tag: r.needStr(Tag.SOURCE, 64),
    path: r.needStr(Tag.PATH, Limits.MAX_PATH),
  };
  const peer = decodePeer(r);
  if (peer && ev.kind !== 'connect') throw protocolError(`a ${ev.kind} event with peer credentials`);
  if (peer) ev.peer = peer;
  return ev;
}

/** SOCKET_ANSWER refusing a connect with `errno`. */
export function encodeSocketRefusal(token: number, errno: number): TlvWriter {
  checkToken(token);
  if (!Number.isInteger(errno) || errno < 1 || errno > 4095) throw new InvalidArgumentError(`invalid errno ${errno}`);
  return new TlvWriter().u32(Tag.SOCKET_TOKEN, token).u32(Tag.ERRNO, errno);
}

/** SOCKET_ANSWER accepting a connect (the process's handle is added by the caller). */
export function encodeSocketAnswer(req: SocketAnswerRequest, window: number): TlvWriter {
  checkToken(req.token);
  checkId(req.containerId, 'container id');
  checkId(req.processId, 'process id');
  return new TlvWriter()
    .u32(Tag.SOCKET_TOKEN, req.token)
    .str(Tag.CONTAINER_ID, req.containerId)
    .str(Tag.PROCESS_ID, req.processId)
    .u32(Tag.WINDOW, window);
}

/** SOCKET_DIAL (the process's handle is added by the caller), with UID GID GROUP... when it has a peer. */
export function encodeSocketDial(req: SocketDialRequest, window: number): TlvWriter {
  checkId(req.containerId, 'container id');
  checkId(req.processId, 'process id');
  if (!TAG_RE.test(req.tag)) throw new InvalidArgumentError(`invalid share tag ${JSON.stringify(req.tag)}`);
  checkPath(req.path);
  const w = new TlvWriter()
    .str(Tag.CONTAINER_ID, req.containerId)
    .str(Tag.PROCESS_ID, req.processId)
    .u32(Tag.WINDOW, window)
    .str(Tag.SOURCE, req.tag)
    .str(Tag.PATH, req.path, Limits.MAX_PATH);
  if (req.peer) {
    const { uid, gid, groups } = req.peer;
    if (groups.length > Limits.MAX_GROUPS) throw new InvalidArgumentError(`more than ${Limits.MAX_GROUPS} groups`);
    for (const id of [uid, gid, ...groups])
      if (!Number.isInteger(id) || id < 0 || id > MAX_ID) throw new InvalidArgumentError(`invalid peer id ${id}`);
    w.u32(Tag.UID, uid).u32(Tag.GID, gid);
    for (const g of groups) w.u32(Tag.GROUP, g);
  }
  return w;
}

/** The inotify bits FILE_EVENT carries (IN_MODIFY ... IN_DELETE, IN_ISDIR). */
const FILE_EVENT_BITS = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200 | 0x40000000;

/** FILE_EVENT. */
export function encodeFileEvent(e: FileEventRequest): TlvWriter {
  if (!TAG_RE.test(e.tag)) throw new InvalidArgumentError(`invalid share tag ${JSON.stringify(e.tag)}`);
  checkPath(e.path);
  if (!Number.isInteger(e.mask) || e.mask <= 0 || (e.mask & ~FILE_EVENT_BITS) !== 0)
    throw new InvalidArgumentError(`invalid event mask ${e.mask}`);
  if (!Number.isInteger(e.cookie) || e.cookie < 0 || e.cookie > 0xffffffff)
    throw new InvalidArgumentError(`invalid cookie ${e.cookie}`);
  const w = new TlvWriter()
    .str(Tag.SOURCE, e.tag)
    .str(Tag.PATH, e.path, Limits.MAX_PATH)
    .u32(Tag.EVENT_MASK, e.mask)
    .u32(Tag.EVENT_COOKIE, e.cookie);
  if (e.name !== undefined) {
    if (!e.name || e.name.includes('/') || e.name.includes('\0') || Buffer.byteLength(e.name) > 255)
      throw new InvalidArgumentError(`invalid entry name ${JSON.stringify(e.name)}`);
    w.str(Tag.EVENT_NAME, e.name, 255);
  }
  return w;
}
