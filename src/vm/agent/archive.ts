/**
 * The payload of an ARCHIVE request (op 48, guest/agent/ops_archive.c): what the agent's tar
 * process does (stat, get, put, export or the layer), its path, root, name and flags, checked before
 * anything is sent. The caller adds the process handle.
 */
import type { ArchiveRequest } from '../agent-types';
import { InvalidArgumentError } from '../../errors';
import { ArchiveFlag, ArchiveKind, Limits, Tag } from './protocol';
import { checkId, checkPath } from './requests';
import { TlvWriter } from './tlv';

const KINDS = { stat: 'STAT', get: 'GET', put: 'PUT', export: 'EXPORT', layer: 'LAYER' } as const;

/** ARCHIVE's fields for `req`, with output credit `window` per stream. */
export function encodeArchive(req: ArchiveRequest, window: number): TlvWriter {
  checkId(req.containerId, 'container id');
  checkId(req.processId, 'process id');
  const w = new TlvWriter()
    .str(Tag.CONTAINER_ID, req.containerId)
    .str(Tag.PROCESS_ID, req.processId)
    .u32(Tag.WINDOW, window)
    .u32(Tag.ARCHIVE_KIND, ArchiveKind[KINDS[req.kind]]);
  let flags = 0;
  if (req.kind === 'stat' || req.kind === 'get' || req.kind === 'put') {
    checkPath(req.path);
    w.str(Tag.PATH, req.path, Limits.MAX_PATH);
    if (req.root !== undefined) {
      checkPath(req.root);
      if (req.root === '/' || req.root.split('/').includes('..'))
        throw new InvalidArgumentError(`bad archive root ${JSON.stringify(req.root)}`);
      w.str(Tag.ARCHIVE_ROOT, req.root, Limits.MAX_PATH);
    }
  }
  if ((req.kind === 'stat' || req.kind === 'get') && req.follow) flags |= ArchiveFlag.FOLLOW;
  if (req.kind === 'get') {
    if (req.name.includes('/') || req.name === '..' || Buffer.byteLength(req.name) > 255)
      throw new InvalidArgumentError(`bad archive name ${JSON.stringify(req.name)}`);
    w.str(Tag.ARCHIVE_NAME, req.name);
  }
  if (req.kind === 'put') {
    if (req.noOverwriteDirNonDir) flags |= ArchiveFlag.NO_OVERWRITE_DIR;
    if (req.owner) {
      flags |= ArchiveFlag.CHOWN;
      w.u32(Tag.UID, req.owner.uid).u32(Tag.GID, req.owner.gid);
    }
  }
  if (req.kind === 'layer' && req.headersOnly) flags |= ArchiveFlag.HEADERS_ONLY;
  if (req.kind === 'layer' && req.freeze) flags |= ArchiveFlag.FREEZE;
  w.u32(Tag.ARCHIVE_FLAGS, flags);
  return w;
}
