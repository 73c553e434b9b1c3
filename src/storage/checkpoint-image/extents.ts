/**
 * The sparse-extent stream (the content of a CHECKPOINT_SPARSE_TYPE layer before zstd): a
 * sparse file as its logical size and its data extents only, so that a 16 GiB disk file
 * holding 5 MiB travels as ~5 MiB. Its layout, all integers u64 big-endian:
 *
 *   "PVXT0001"                     magic, 8 bytes
 *   size                           the file's logical size
 *   { offset, length, <length bytes> }...
 *                                  one record per data extent piece: 1 <= length <= 64 MiB
 *                                  (a bigger extent is split), offsets strictly increasing,
 *                                  records neither overlapping nor reaching past `size`
 *   { 0, 0 }                       the end record; nothing may follow it
 *
 * This module writes it from a file, reading only the file's data extents, which Node cannot
 * list (it has no lseek SEEK_DATA/SEEK_HOLE): a perl script lists them (src/util/perl.ts).
 * ./extents-apply.ts reads it back, refusing any stream that breaks the layout.
 */
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import { runPerl } from '../../util/perl';
import { UnavailableError } from '../../errors';

/** The stream's first 8 bytes. */
export const EXTENT_MAGIC = Buffer.from('PVXT0001', 'latin1');
/** Bytes of the stream's header (magic and logical size). */
export const EXTENT_HEADER_BYTES = 16;
/** Bytes of each record's header (offset and length). */
export const EXTENT_RECORD_HEADER_BYTES = 16;
/** Most data bytes one record carries. */
export const EXTENT_MAX_LENGTH = 64 * 1024 * 1024;

/** A run of bytes of a file, `length` bytes from `offset`. */
export interface Extent {
  offset: number;
  length: number;
}

/** How long the listing of a file's extents may take. */
const LIST_TIMEOUT_MS = 60_000;
/** Bytes read from the file at a time while writing the stream. */
const READ_CHUNK = 1024 * 1024;

/**
 * Prints the file's device, inode and size, then one "offset length" line per data extent,
 * walking them with SEEK_DATA (3) and SEEK_HOLE (4); ENXIO from SEEK_DATA means no data
 * follows. A filesystem without holes reports the whole file as one extent.
 */
const LIST_SCRIPT = `
  use strict; use Fcntl qw(O_RDONLY O_NOFOLLOW); use Errno qw(ENXIO);
  my ($path) = @ARGV;
  sysopen(my $fh, $path, O_RDONLY | O_NOFOLLOW) or die "open $path: $!\\n";
  my @st = stat($fh) or die "stat $path: $!\\n";
  my $size = $st[7];
  print "$st[0] $st[1] $size\\n";
  my $pos = 0;
  while ($pos < $size) {
    my $d = sysseek($fh, $pos, 3);
    if (!defined $d) { last if $! == ENXIO; die "SEEK_DATA: $!\\n"; }
    $d += 0;
    last if $d >= $size;
    my $h = sysseek($fh, $d, 4);
    die "SEEK_HOLE: $!\\n" unless defined $h;
    $h += 0; $h = $size if $h > $size;
    print "$d ", $h - $d, "\\n" if $h > $d;
    $pos = $h;
  }`;

/** A file's identity (device, inode), logical size and data extents, as listed by LIST_SCRIPT. */
export interface ExtentListing {
  dev: number;
  ino: number;
  size: number;
  extents: Extent[];
}

/**
 * The data extents of the regular file at `file` (which is not followed if a symlink), in
 * order, with its logical size. UnavailableError when perl cannot list them.
 */
export async function listDataExtents(file: string): Promise<ExtentListing> {
  const m = await runPerl(LIST_SCRIPT, [file], {
    what: `cannot list the data extents of ${file}`,
    expect: /^(\d+) (\d+) (\d+)\n((?:\d+ \d+\n)*)$/,
    timeoutMs: LIST_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
  });
  const extents = m[4]
    .split('\n')
    .filter((l) => l)
    .map((l) => {
      const [offset, length] = l.split(' ').map(Number);
      return { offset, length };
    });
  return { dev: Number(m[1]), ino: Number(m[2]), size: Number(m[3]), extents };
}

/** The stream's header: magic and logical size. */
export function extentStreamHeader(size: number): Buffer {
  const b = Buffer.alloc(EXTENT_HEADER_BYTES);
  EXTENT_MAGIC.copy(b, 0);
  b.writeBigUInt64BE(BigInt(size), 8);
  return b;
}

/** A record's header (`{0, 0}` is the end record). */
export function extentRecordHeader(offset: number, length: number): Buffer {
  const b = Buffer.alloc(EXTENT_RECORD_HEADER_BYTES);
  b.writeBigUInt64BE(BigInt(offset), 0);
  b.writeBigUInt64BE(BigInt(length), 8);
  return b;
}

/** `extents` cut into pieces of at most EXTENT_MAX_LENGTH bytes, in order. */
export function splitExtents(extents: Extent[]): Extent[] {
  const out: Extent[] = [];
  for (const e of extents) {
    for (let at = e.offset; at < e.offset + e.length; at += EXTENT_MAX_LENGTH) {
      out.push({ offset: at, length: Math.min(EXTENT_MAX_LENGTH, e.offset + e.length - at) });
    }
  }
  return out;
}

/**
 * The extent stream of the regular file at `file`: resolves, once its extents are listed,
 * with its logical size and a stream that reads only its data extents (1 MiB at a time, so a
 * file of any size costs little memory). The file must not change meanwhile (a checkpoint's
 * files are written and closed before they are packed); one that shrinks fails the stream.
 * The file is closed when the stream ends or is destroyed.
 */
export async function extentStreamOf(file: string): Promise<{ size: number; stream: Readable }> {
  const fh = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  let listing: ExtentListing;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new UnavailableError(`${file} is not a regular file`);
    listing = await listDataExtents(file);
    if (listing.dev !== st.dev || listing.ino !== st.ino || listing.size !== st.size) {
      throw new UnavailableError(`${file} changed while its data extents were listed`);
    }
  } catch (err) {
    await fh.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= fh.close().catch(() => undefined));
  async function* records(): AsyncGenerator<Buffer> {
    try {
      yield extentStreamHeader(listing.size);
      for (const e of splitExtents(listing.extents)) {
        yield extentRecordHeader(e.offset, e.length);
        for (let done = 0; done < e.length; ) {
          const want = Math.min(READ_CHUNK, e.length - done);
          const buf = Buffer.allocUnsafe(want);
          const { bytesRead } = await fh.read(buf, 0, want, e.offset + done);
          if (bytesRead === 0) throw new UnavailableError(`${file} shrank while it was read`);
          done += bytesRead;
          yield bytesRead === want ? buf : buf.subarray(0, bytesRead);
        }
      }
      yield extentRecordHeader(0, 0);
    } finally {
      await close();
    }
  }
  const stream = Readable.from(records(), { objectMode: false, highWaterMark: READ_CHUNK });
  // A stream destroyed before its first read never runs the generator's `finally`.
  stream.once('close', () => void close());
  return { size: listing.size, stream };
}
