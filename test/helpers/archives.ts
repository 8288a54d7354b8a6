import { Readable } from "node:stream";
import { createGzip, gzipSync } from "node:zlib";
import { Header } from "tar";

/**
 * Repository archives for tests, shaped like a forge's (a gzipped tarball with one top-level
 * directory), built entry by entry so a test can put in what no well-behaved tool would:
 * absolute paths, `..`, links leading out, devices, a header declaring 10 GB.
 */

export type ArchiveEntry =
  | { type: "File"; path: string; content: string | Buffer; mode?: number }
  | { type: "Directory"; path: string }
  | { type: "SymbolicLink" | "Link"; path: string; linkpath: string }
  | { type: "CharacterDevice" | "FIFO"; path: string }
  /** A header declaring `size` bytes whose data is produced lazily (zeros), for bombs. */
  | { type: "HugeFile"; path: string; size: number };

export const ARCHIVE_ROOT = "repo-0123abc";

function header(fields: ConstructorParameters<typeof Header>[0]): Buffer {
  const block = Buffer.alloc(512);
  new Header({ mode: 0o644, uid: 0, gid: 0, mtime: new Date(0), ...fields }).encode(block, 0);
  return block;
}

function padding(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}

/** A lazy tar stream: nothing past what the reader pulls is ever produced. */
function* tarChunks(entries: readonly ArchiveEntry[], root: string): Generator<Buffer> {
  yield header({ path: `${root}/`, type: "Directory", mode: 0o755, size: 0 });
  for (const e of entries) {
    const path = e.path.startsWith("/") ? e.path : `${root}/${e.path}`;
    if (e.type === "File") {
      const data = Buffer.from(e.content);
      yield header({ path, type: "File", size: data.length, mode: e.mode ?? 0o644 });
      yield data;
      yield padding(data.length);
    } else if (e.type === "Directory") {
      yield header({ path: `${path}/`, type: "Directory", mode: 0o755, size: 0 });
    } else if (e.type === "SymbolicLink" || e.type === "Link") {
      yield header({ path, type: e.type, linkpath: e.type === "Link" && !e.linkpath.startsWith("/") ? `${root}/${e.linkpath}` : e.linkpath, size: 0 });
    } else if (e.type === "HugeFile") {
      yield header({ path, type: "File", size: e.size });
      const chunk = Buffer.alloc(1024 * 1024);
      for (let left = e.size; left > 0; left -= chunk.length) yield left >= chunk.length ? chunk : chunk.subarray(0, left);
      yield padding(e.size);
    } else {
      yield header({ path, type: e.type, size: 0 });
    }
  }
  yield Buffer.alloc(1024);
}

/** The gzipped archive as a stream (lazy: a 10 GB entry costs only what is read). */
export function archiveStream(entries: readonly ArchiveEntry[], root = ARCHIVE_ROOT): Readable {
  return Readable.from(tarChunks(entries, root)).pipe(createGzip({ level: 1 }));
}

/** The gzipped archive in memory (small archives only). */
export async function archiveBuffer(entries: readonly ArchiveEntry[], root = ARCHIVE_ROOT): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of archiveStream(entries, root)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A web stream of a buffer, as a forge download hands it over. */
export function webStream(data: Buffer): ReadableStream<Uint8Array> {
  return Readable.toWeb(Readable.from([data])) as unknown as ReadableStream<Uint8Array>;
}

/** The gzipped archive built at once (small archives only; no HugeFile entries). */
export function archiveBufferSync(entries: readonly ArchiveEntry[], root = ARCHIVE_ROOT): Buffer {
  return gzipSync(Buffer.concat([...tarChunks(entries, root)]), { level: 1 });
}
