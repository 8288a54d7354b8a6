import picomatch from "picomatch";
import type { ChangeFile } from "../../sessions/review-port.js";
import { globMatcher } from "../repo-settings.js";
import { parseHunks } from "./diff.js";
import type { SkipReason, SkippedFile } from "./store.js";

/**
 * Which files of a change a review reads, and in which groups: lockfiles, generated, vendored
 * and binary files are skipped by default, `review.ignore` skips more (and `!pattern` takes a
 * file back), and the rest is packed into groups that fit the model's context. Nothing is cut
 * silently: every file left out is listed with its reason.
 */

export type ReviewLimits = {
  /** Most diff tokens (estimated) one group sends the model. */
  groupTokens: number;
  /** Most groups one review runs; files past them are skipped as over the budget. */
  maxGroups: number;
};

export const DEFAULT_REVIEW_LIMITS: ReviewLimits = { groupTokens: 24_000, maxGroups: 12 };

const LOCKFILES = new Set([
  "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "bun.lock", "deno.lock",
  "Cargo.lock", "Gemfile.lock", "composer.lock", "poetry.lock", "Pipfile.lock", "uv.lock", "pdm.lock", "go.sum", "go.work.sum",
  "mix.lock", "pubspec.lock", "Podfile.lock", "Package.resolved", "packages.lock.json", "flake.lock", "gradle.lockfile", "conan.lock",
]);

const GENERATED = picomatch(
  ["**/*.min.js", "**/*.min.css", "**/*.min.mjs", "**/*.map", "**/*.pb.go", "**/*_pb2.py", "**/*_pb2_grpc.py", "**/*.pb.h", "**/*.pb.cc",
    "**/*.generated.*", "**/*.g.dart", "**/__generated__/**", "**/__snapshots__/**", "**/*.snap"],
  { dot: true },
);
const VENDORED = picomatch(["vendor/**", "**/vendor/**", "node_modules/**", "**/node_modules/**", "third_party/**", "**/third_party/**", "third-party/**", "**/third-party/**"], { dot: true });
const BINARY_EXTENSION = /\.(png|jpe?g|gif|bmp|ico|webp|avif|tiff?|psd|pdf|zip|gz|tgz|bz2|xz|7z|rar|jar|war|class|so|dylib|dll|exe|bin|o|a|woff2?|ttf|otf|eot|mp3|mp4|mov|avi|wav|flac|ogg|sqlite|db)$/i;
/** Marks tools put at the top of files they write. */
const GENERATED_HEADER = /@generated|code generated .*do not edit|auto-?generated .*do not edit/i;

/** The first lines of a file that the diff shows from its top: a generated file says so there. */
function saysGenerated(patch: string): boolean {
  const first = parseHunks(patch)[0];
  if (!first || first.newStart > 1) return false;
  return first.lines.slice(0, 5).some((l) => l.kind !== "removed" && GENERATED_HEADER.test(l.text));
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** A file's skip reason under the defaults and `review.ignore` (`!pattern` takes a file back), or null. */
export function skipReason(file: ChangeFile, ignore: readonly string[]): SkipReason | null {
  const taken = ignore.filter((p) => p.startsWith("!")).map((p) => p.slice(1));
  const ignored = ignore.filter((p) => !p.startsWith("!"));
  if (!globMatcher(taken)(file.path)) {
    if (globMatcher(ignored)(file.path)) return "ignored";
    if (VENDORED(file.path)) return "vendored";
    if (LOCKFILES.has(baseName(file.path))) return "lockfile";
    if (file.generated || GENERATED(file.path) || (file.patch && saysGenerated(file.patch))) return "generated";
  }
  if (file.omitted === "binary" || BINARY_EXTENSION.test(file.path)) return "binary";
  if (file.omitted === "too_large") return "too_large";
  if (!file.patch || parseHunks(file.patch).length === 0) return "no_changes";
  return null;
}

/**
 * A file's diff as the model reads it: every line numbered as comments address it (the new
 * line for `+` and context lines, the old line for `-` lines).
 */
export function formatFileDiff(file: ChangeFile): string {
  const renamed = file.oldPath !== file.path ? ` (renamed from ${file.oldPath})` : "";
  const out = [`### ${file.path}${renamed} — ${file.status}`];
  for (const hunk of parseHunks(file.patch ?? "")) {
    out.push(`@@ -${hunk.oldStart},${hunk.oldLines} +${hunk.newStart},${hunk.newLines} @@`);
    for (const line of hunk.lines) {
      const sign = line.kind === "added" ? "+" : line.kind === "removed" ? "-" : " ";
      out.push(`${sign}${line.kind === "removed" ? line.oldLine : line.newLine}|${line.text}`);
      if (line.noNewline) out.push("\\ No newline at end of file");
    }
  }
  return out.join("\n");
}

/** A rough token count for code (about three characters a token): enough to fill groups safely. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 3);
}

export type PlannedReview = { groups: ChangeFile[][]; skipped: SkippedFile[] };

/** Packs the files to review into groups within `limits`, in the forge's order; lists the rest. */
export function planReview(files: readonly ChangeFile[], ignore: readonly string[], limits: ReviewLimits = DEFAULT_REVIEW_LIMITS): PlannedReview {
  const groups: ChangeFile[][] = [];
  const skipped: SkippedFile[] = [];
  let current: ChangeFile[] = [];
  let used = 0;
  for (const file of files) {
    const reason = skipReason(file, ignore);
    if (reason) {
      skipped.push({ path: file.path, reason });
      continue;
    }
    const tokens = estimateTokens(formatFileDiff(file));
    if (tokens > limits.groupTokens) {
      skipped.push({ path: file.path, reason: "too_large" });
      continue;
    }
    if (current.length > 0 && used + tokens > limits.groupTokens) {
      groups.push(current);
      current = [];
      used = 0;
    }
    if (current.length === 0 && groups.length >= limits.maxGroups) {
      skipped.push({ path: file.path, reason: "over_budget" });
      continue;
    }
    current.push(file);
    used += tokens;
  }
  if (current.length > 0) groups.push(current);
  return { groups, skipped };
}
