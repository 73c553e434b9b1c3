/**
 * An empty qcow2 image (version 3), written by the host: the file a copy-on-write disk starts
 * as (./disk-chain.ts). Every cluster reads as unallocated, so QEMU reads it from the backing
 * node it is opened with; what the guest writes lands in clusters of this file.
 *
 * The header names no backing file and no external data file: a qcow2 of this project is
 * always opened with its backing given as an explicit node, never from the header (a header a
 * guest-controlled QEMU rewrote could name any file). The host writes this file once, before
 * any QEMU opens it, and never reads it back.
 *
 * Layout (the qcow2 specification, docs/interop/qcow2.txt in QEMU's source; big-endian):
 *   cluster 0  the header (104 bytes), then the end of the header extensions (8 zero bytes)
 *   cluster 1  the refcount table: one entry, the offset of cluster 2
 *   cluster 2  a refcount block (16-bit refcounts): clusters 0 to 3 used once each
 *   cluster 3  the L1 table, all zero (no L2 table yet: nothing allocated)
 * A 64 KiB cluster (QEMU's default). One refcount block covers 32768 clusters (2 GiB of
 * file), which QEMU grows on its own as the guest writes.
 */
import * as fs from 'node:fs';

/** log2 of the cluster size. */
const CLUSTER_BITS = 16;
const CLUSTER = 1 << CLUSTER_BITS;
/** The header's length for version 3 without optional fields. */
const HEADER_LENGTH = 104;
/** 16-bit refcounts (refcount_order 4). */
const REFCOUNT_ORDER = 4;
/** Clusters the empty image takes: header, refcount table, refcount block, L1 table. */
const CLUSTERS = 4;
/** What one L1 entry covers: an L2 table of 8-byte entries, each for one cluster. */
const L2_COVERS = (CLUSTER / 8) * CLUSTER;
/** The largest virtual size whose L1 table fits in the one cluster given to it. */
export const QCOW2_MAX_BYTES = (CLUSTER / 8) * L2_COVERS;

/** The bytes of an empty qcow2 image of virtual size `bytes` (see the module comment). */
export function emptyQcow2(bytes: number): Buffer {
  if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % 512 !== 0 || bytes > QCOW2_MAX_BYTES)
    throw new RangeError(`a qcow2 overlay of ${bytes} bytes is not one this writer makes`);
  const out = Buffer.alloc(CLUSTERS * CLUSTER);
  const l1Entries = Math.ceil(bytes / L2_COVERS);
  out.write('QFI\xfb', 0, 'latin1');
  out.writeUInt32BE(3, 4); // version
  out.writeBigUInt64BE(0n, 8); // backing_file_offset: none
  out.writeUInt32BE(0, 16); // backing_file_size
  out.writeUInt32BE(CLUSTER_BITS, 20);
  out.writeBigUInt64BE(BigInt(bytes), 24); // size
  out.writeUInt32BE(0, 32); // crypt_method: none
  out.writeUInt32BE(l1Entries, 36); // l1_size
  out.writeBigUInt64BE(BigInt(3 * CLUSTER), 40); // l1_table_offset
  out.writeBigUInt64BE(BigInt(1 * CLUSTER), 48); // refcount_table_offset
  out.writeUInt32BE(1, 56); // refcount_table_clusters
  out.writeUInt32BE(0, 60); // nb_snapshots
  out.writeBigUInt64BE(0n, 64); // snapshots_offset
  out.writeBigUInt64BE(0n, 72); // incompatible_features: none (no external data file)
  out.writeBigUInt64BE(0n, 80); // compatible_features: none (no lazy refcounts)
  out.writeBigUInt64BE(0n, 88); // autoclear_features
  out.writeUInt32BE(REFCOUNT_ORDER, 96);
  out.writeUInt32BE(HEADER_LENGTH, 100);
  // Bytes 104-111: the end-of-extensions marker (type 0, length 0), already zero.
  out.writeBigUInt64BE(BigInt(2 * CLUSTER), CLUSTER); // refcount table entry 0
  for (let c = 0; c < CLUSTERS; c++) out.writeUInt16BE(1, 2 * CLUSTER + 2 * c);
  return out;
}

/**
 * Write an empty qcow2 image of virtual size `bytes` as new file `file` (mode 0600; it must
 * not exist), synced before it is closed.
 */
export async function writeEmptyQcow2(file: string, bytes: number): Promise<void> {
  const data = emptyQcow2(bytes);
  const fh = await fs.promises.open(file, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
