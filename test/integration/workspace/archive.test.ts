import { afterAll, describe, expect, it } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { createReadStream, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { extractArchive } from "../../../src/workspace/archive.js";
import { WorkspaceTooLargeError } from "../../../src/workspace/errors.js";
import { archiveStream, type ArchiveEntry } from "../../helpers/archives.js";
import { scratchDir } from "./support.js";

/**
 * Hostile repository archives: whatever they hold, extraction writes only inside the target,
 * only regular files, directories and links that stay inside, and stops at WORKSPACE_MAX_BYTES
 * while it runs — a 10 GB entry is refused after reading its header, not after writing it.
 */
const scratch = scratchDir();
afterAll(() => scratch.remove());

function target(): string {
  return mkdtempSync(path.join(scratch.dir, "x-"));
}

const MB = 1024 * 1024;

describe("extracting a repository archive", () => {
  it("leaves out links leading outside, absolute paths, .., devices and FIFOs, and reports each", async () => {
    const entries: ArchiveEntry[] = [
      { type: "File", path: "ok.txt", content: "ok\n" },
      { type: "File", path: "bin/run.sh", content: "#!/bin/sh\n", mode: 0o755 },
      { type: "SymbolicLink", path: "passwd", linkpath: "/etc/passwd" },
      { type: "SymbolicLink", path: "sub/up", linkpath: "../../outside" },
      { type: "SymbolicLink", path: "inside", linkpath: "ok.txt" },
      { type: "Link", path: "hard-out", linkpath: "/etc/shadow" },
      { type: "File", path: "/tmp/forgebot-absolute-entry", content: "x" },
      { type: "File", path: "a/../../../tmp/forgebot-dotdot-entry", content: "x" },
      { type: "CharacterDevice", path: "null-device" },
      { type: "FIFO", path: "pipe" },
    ];
    const dest = target();
    const result = await extractArchive(archiveStream(entries), dest, { maxBytes: MB });
    expect(readdirSync(dest).sort()).toEqual(["bin", "inside", "ok.txt"]);
    // Executable files stay executable (git keeps 100755).
    expect(statSync(path.join(dest, "bin/run.sh")).mode & 0o111).not.toBe(0);
    expect(statSync(path.join(dest, "ok.txt")).mode & 0o111).toBe(0);
    expect(lstatSync(path.join(dest, "inside")).isSymbolicLink()).toBe(true);
    expect(existsSync("/tmp/forgebot-absolute-entry")).toBe(false);
    expect(existsSync("/tmp/forgebot-dotdot-entry")).toBe(false);
    const reasons = Object.fromEntries(result.skipped.map((s) => [s.path, s.reason]));
    expect(reasons).toMatchObject({
      passwd: "link to an absolute path (/etc/passwd)",
      "sub/up": "link leading outside the repository (../../outside)",
      "hard-out": "link to an absolute path (/etc/shadow)",
      "null-device": "CharacterDevice entries are not extracted",
      pipe: "FIFO entries are not extracted",
    });
    expect(result.skipped.some((s) => /\.\./.test(s.reason) && s.path.includes("forgebot-dotdot-entry"))).toBe(true);
    expect(result.skipped.length).toBe(7);
    expect(result).toMatchObject({ files: 2, bytes: 13 });
  });

  it("a 10 GB entry is refused from its header: no byte of it is written", async () => {
    const dest = target();
    const started = Date.now();
    const err = await extractArchive(archiveStream([{ type: "File", path: "small.txt", content: "x" }, { type: "HugeFile", path: "huge.bin", size: 10 * 1024 ** 3 }]), dest, { maxBytes: 5 * MB }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkspaceTooLargeError);
    expect((err as Error).message).toContain("larger than WORKSPACE_MAX_BYTES (5242880 bytes; huge.bin alone declares 10737418240)");
    expect(existsSync(path.join(dest, "huge.bin"))).toBe(false);
    // Refused at the header, long before 10 GB of zeros could be inflated.
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it("many files adding up past WORKSPACE_MAX_BYTES stop the extraction at the limit", async () => {
    const entries: ArchiveEntry[] = Array.from({ length: 40 }, (_, i) => ({ type: "File" as const, path: `f${i}.bin`, content: Buffer.alloc(256 * 1024, i) }));
    const dest = target();
    const err = await extractArchive(archiveStream(entries), dest, { maxBytes: 2 * MB }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkspaceTooLargeError);
    expect(readdirSync(dest).length).toBeLessThanOrEqual(8);
  });

  it.each([["gnu"], ["posix"]])("a sparse file declaring 10 GB (tar --sparse --format=%s) is left out, not inflated", async (format) => {
    const src = mkdtempSync(path.join(scratch.dir, "sparse-src-"));
    mkdirSync(path.join(src, "repo"));
    writeFileSync(path.join(src, "repo", "README.md"), "# sparse\n");
    execFileSync("truncate", ["-s", "10G", path.join(src, "repo", "disk.img")]);
    symlinkSync("/etc/passwd", path.join(src, "repo", "passwd"));
    const archive = path.join(src, "repo.tgz");
    execFileSync("tar", ["--sparse", `--format=${format}`, "-czf", archive, "-C", src, "repo"]);
    const dest = target();
    const result = await extractArchive(createReadStream(archive), dest, { maxBytes: 5 * MB });
    expect(readdirSync(dest)).toEqual(["README.md"]);
    expect(result.skipped).toEqual(
      expect.arrayContaining([
        { path: "disk.img", reason: "SparseFile entries are not extracted" },
        { path: "passwd", reason: "link to an absolute path (/etc/passwd)" },
      ]),
    );
  });

  it("an archive that is not gzip fails with a readable error", async () => {
    const { Readable } = await import("node:stream");
    const err = await extractArchive(Readable.from([Buffer.from("<html>not an archive</html>")]), target(), { maxBytes: MB }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/could not be extracted/);
  });
});
