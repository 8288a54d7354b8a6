import path from "node:path";
import { Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { x as extractTar, type ReadEntry } from "tar";
import { WorkspaceError, WorkspaceTooLargeError } from "./errors.js";

/**
 * Extracts a forge's repository archive (a gzipped tarball with one top-level directory) into
 * a directory, bounded while it runs: the bytes written, the bytes decompressed and the number
 * of entries are counted as the stream goes, so an archive bomb stops at the limit instead of
 * filling the disk. Entries a repository snapshot has no business holding are left out and
 * reported: links leading outside the tree, devices, FIFOs, sparse files, absolute paths, `..`.
 */

export type SkippedEntry = { path: string; reason: string };

export type ExtractResult = {
  /** Bytes of file data written. */
  bytes: number;
  files: number;
  skipped: SkippedEntry[];
};

export type ExtractLimits = {
  /** WORKSPACE_MAX_BYTES: file data written may not exceed it. */
  maxBytes: number;
  /** Most entries (files, directories, links) extracted. */
  maxEntries?: number;
};

const DEFAULT_MAX_ENTRIES = 200_000;
/** Skipped entries reported by name; the rest are counted. */
const MAX_REPORTED_SKIPS = 50;
/** Tar headers and padding on top of the data: decompressing much more than the data limit means a bomb. */
const DECOMPRESSED_SLACK = 64 * 1024 * 1024;

const FILE_TYPES = new Set(["File", "OldFile", "ContiguousFile"]);

/** Counts bytes going through and fails the stream once past `max`. */
function counter(max: number, onTooMuch: () => Error): Transform & { bytes: number } {
  const t = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      t.bytes += chunk.length;
      if (t.bytes > max) return done(onTooMuch());
      done(null, chunk);
    },
  }) as Transform & { bytes: number };
  t.bytes = 0;
  return t;
}

/** The entry path without the archive's top-level directory; null for the directory itself. */
function innerPath(entryPath: string): string | null {
  const parts = entryPath.replace(/\\/g, "/").split("/").filter((p) => p !== "" && p !== ".");
  return parts.length <= 1 ? null : parts.slice(1).join("/");
}

/** Why a link's target is refused, or null when it stays inside the tree. */
function linkOutside(entryPath: string, target: string, hard: boolean): string | null {
  const clean = target.replace(/\\/g, "/");
  if (clean.startsWith("/")) return `link to an absolute path (${target})`;
  // A hard link names another entry of the archive (from its root); a symlink is relative to its own directory.
  const resolved = hard ? path.posix.normalize(clean) : path.posix.normalize(path.posix.join(path.posix.dirname(entryPath), clean));
  const inside = hard ? resolved.split("/").slice(1).join("/") : resolved;
  if (resolved === ".." || resolved.startsWith("../") || (hard && clean.split("/").includes(".."))) return `link leading outside the repository (${target})`;
  return inside === "" && hard ? `hard link to the archive's root (${target})` : null;
}

/**
 * Streams `archive` (gzip) into `dest` (which must exist and be empty). Throws
 * WorkspaceTooLargeError past `limits.maxBytes`, WorkspaceError for an unreadable archive;
 * `dest` is then left partly written for the caller to remove.
 */
export async function extractArchive(archive: Readable | ReadableStream<Uint8Array>, dest: string, limits: ExtractLimits): Promise<ExtractResult> {
  const maxEntries = limits.maxEntries ?? DEFAULT_MAX_ENTRIES;
  const skipped: SkippedEntry[] = [];
  let skippedCount = 0;
  let bytes = 0;
  let files = 0;
  let entries = 0;
  let failure: Error | null = null;

  const source = archive instanceof Readable ? archive : Readable.fromWeb(archive as import("node:stream/web").ReadableStream<Uint8Array>);
  const decompressed = counter(limits.maxBytes + DECOMPRESSED_SLACK, () => new WorkspaceTooLargeError(`the repository archive expands past ${limits.maxBytes} bytes`));

  /** Entries our filter saw: tar reports those as ignored too, and they are already accounted for. */
  const seen = new WeakSet<object>();
  function skip(entryPath: string, reason: string): false {
    skippedCount++;
    if (skipped.length < MAX_REPORTED_SKIPS) skipped.push({ path: entryPath, reason });
    return false;
  }

  const unpack = extractTar({
    cwd: dest,
    strip: 1,
    preserveOwner: false,
    // Modes come from the archive at creation (minus the umask); git tracks neither times nor
    // other bits, so no chmod or utimes call per file.
    noChmod: true,
    noMtime: true,
    strict: false,
    maxDecompressionRatio: Number.POSITIVE_INFINITY,
    filter(entryPath: string, entry: ReadEntry | import("node:fs").Stats) {
      const e = entry as ReadEntry;
      seen.add(e);
      const inner = innerPath(entryPath);
      if (inner === null) return e.type === "Directory";
      if (failure) return false;
      if (++entries > maxEntries) {
        failure = new WorkspaceTooLargeError(`the repository archive holds more than ${maxEntries} entries`);
        unpack.abort(failure);
        return false;
      }
      const segments = inner.split("/");
      if (entryPath.startsWith("/")) return skip(inner, "absolute path");
      if (segments.includes("..")) return skip(inner, 'path containing ".."');
      if (segments.includes(".git")) return skip(inner, "path inside .git");
      // GNU tar's PAX sparse format stores a sparse file under GNUSparseFile.<n>/ with its map as data.
      if (segments.some((part) => /^GNUSparseFile\.\d+$/.test(part))) return skip(inner.replace(/(^|\/)GNUSparseFile\.\d+\//, "$1"), "SparseFile entries are not extracted");
      if (e.type === "Directory") return true;
      if (e.type === "SymbolicLink" || e.type === "Link") {
        const why = linkOutside(e.type === "Link" ? entryPath : inner, String(e.linkpath ?? ""), e.type === "Link");
        return why ? skip(inner, why) : true;
      }
      if (!FILE_TYPES.has(e.type)) return skip(inner, `${e.type} entries are not extracted`);
      const size = e.size ?? 0;
      if (bytes + size > limits.maxBytes) {
        failure = new WorkspaceTooLargeError(`the repository is larger than WORKSPACE_MAX_BYTES (${limits.maxBytes} bytes; ${inner} alone declares ${size})`);
        unpack.abort(failure);
        return false;
      }
      bytes += size;
      files++;
      return true;
    },
    onwarn(code: string, message: string, data: unknown) {
      // Entries tar itself refused (unsafe paths it caught first) are reported like ours.
      if (code === "TAR_ENTRY_ERROR" || code === "TAR_ENTRY_INVALID" || code === "TAR_ENTRY_UNSUPPORTED") {
        const d = data as { path?: unknown; entry?: { path?: unknown } } | undefined;
        const where = innerPath(String(d?.entry?.path ?? d?.path ?? "")) ?? "(archive entry)";
        skip(where, String(message));
      }
    },
  });

  // Types tar never hands to the filter (sparse files, tape headers) are still reported.
  unpack.on("ignoredEntry", (entry: ReadEntry) => {
    if (seen.has(entry) || entry.meta) return;
    const inner = innerPath(entry.path);
    if (inner !== null) skip(inner, `${entry.type} entries are not extracted`);
  });

  try {
    await pipeline(source, createGunzip(), decompressed, unpack);
  } catch (err: unknown) {
    if (failure) throw failure;
    if (err instanceof WorkspaceTooLargeError) throw err;
    throw new WorkspaceError("extract", `the repository archive could not be extracted: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (failure) throw failure;
  if (skippedCount > skipped.length) skipped.push({ path: "…", reason: `${skippedCount - skipped.length} more entries left out` });
  return { bytes, files, skipped };
}
