import type { CommandRecord, PatchPublication, SnapshotRecord, StoredPatch } from "../workspace/store.js";
import { durationLabel } from "./format.js";
import { safeHttpUrl } from "./markdown.js";

/**
 * The change section of a change session's page: the diff per file (each line classed so the
 * stylesheet colours it), the commands that ran with their exit codes, what the snapshot left
 * out, and the patch download. Bounded: a page never carries more than MAX_LINES diff lines.
 */

export type DiffLine = { kind: "add" | "del" | "hunk" | "meta" | "ctx"; text: string };
export type FileDiff = { path: string; status: string; insertions: number; deletions: number; binary: boolean; lines: DiffLine[] };
export type CommandView = { command: string; status: string; tone: "ok" | "warn" | "error" | "info"; duration: string | null; output: string | null };

/** Where the change was published: the change request, its branch and the commit. */
export type PublishedView = {
  /** "Opened draft pull request #14", "Committed onto feature (#12)", "Pushed to forgebot/12-x (!14)". */
  title: string;
  changeRequest: { text: string; href: string | null };
  branch: string;
  commit: { text: string; href: string | null };
  /** The base moved since the snapshot: the change went onto its new head. */
  note: string | null;
};

export type ChangeView = {
  patch: { stat: string; totals: string; base: string; download: string; files: FileDiff[]; cut: string | null } | null;
  published: PublishedView | null;
  commands: CommandView[];
  skipped: { path: string; reason: string }[];
};

const MAX_LINES = 5000;
const MAX_LINE_CHARS = 1000;

function classify(line: string): DiffLine["kind"] {
  if (line.startsWith("@@")) return "hunk";
  if (line.startsWith("+++ ") || line.startsWith("--- ")) return "meta";
  if (line.startsWith("+")) return "add";
  if (line.startsWith("-")) return "del";
  if (line.startsWith(" ") || line === "") return "ctx";
  return "meta";
}

/** Splits `git diff` output into files (at each `diff --git` line). */
function splitDiff(diff: string): { header: string; lines: string[] }[] {
  const files: { header: string; lines: string[] }[] = [];
  for (const line of diff.split("\n")) {
    if (line.startsWith("diff --git ")) files.push({ header: line, lines: [] });
    else files.at(-1)?.lines.push(line);
  }
  return files;
}

function commandView(c: CommandRecord): CommandView {
  const status =
    c.status === "started" ? "cut short (the worker stopped while it ran; not run again)"
    : c.outcome === "timeout" ? "killed at the time limit"
    : c.outcome === "limit" ? `stopped by a resource limit (${c.signal ?? "signal"})`
    : c.outcome === "unavailable" ? "not run: the sandbox is not available"
    : `exit ${c.exitCode ?? c.signal ?? "?"}`;
  const tone = c.status === "started" ? "warn" : c.outcome === "exit_zero" ? "ok" : c.outcome === "exit_nonzero" ? "error" : "warn";
  return { command: c.command, status, tone, duration: c.durationMs === null ? null : durationLabel(c.durationMs), output: c.output };
}

function publishedView(p: PatchPublication): PublishedView {
  const cr = p.changeRequest;
  const title = cr.opened
    ? `Opened ${cr.draft ? "draft " : ""}${cr.name} ${cr.reference}`
    : p.mode === "here"
      ? `Committed onto ${p.branch} (${cr.reference})`
      : `Pushed to ${p.branch} (${cr.reference})`;
  return {
    title,
    changeRequest: { text: cr.title ? `${cr.reference}: ${cr.title}` : cr.reference, href: safeHttpUrl(cr.url) },
    branch: p.branch,
    commit: { text: p.commit.sha.slice(0, 12), href: safeHttpUrl(p.commit.url) },
    note: p.rebased ? `The base moved since the snapshot; the change was applied three-way on ${p.parentSha.slice(0, 12)}.` : null,
  };
}

export function changeView(input: { patch: StoredPatch | null; commands: CommandRecord[]; snapshot: SnapshotRecord | null; downloadHref: string }): ChangeView | null {
  const { patch } = input;
  if (!patch && input.commands.length === 0 && !input.snapshot) return null;
  let view: ChangeView["patch"] = null;
  if (patch) {
    let budget = MAX_LINES;
    const files = splitDiff(patch.diff).map((chunk, i): FileDiff => {
      const meta = patch.files[i];
      const shown = chunk.lines.slice(0, Math.max(0, budget));
      budget -= shown.length;
      const pathFromHeader = / b\/(.+)$/.exec(chunk.header)?.[1] ?? chunk.header;
      return {
        path: meta?.path ?? pathFromHeader,
        status: meta ? (meta.oldPath ? `${meta.status} from ${meta.oldPath}` : meta.status) : "changed",
        insertions: meta?.insertions ?? 0,
        deletions: meta?.deletions ?? 0,
        binary: meta?.binary ?? false,
        lines: shown.map((text) => ({ kind: classify(text), text: text.length > MAX_LINE_CHARS ? `${text.slice(0, MAX_LINE_CHARS)}…` : text })),
      };
    });
    const n = (k: number, w: string) => `${k} ${w}${k === 1 ? "" : "s"}`;
    view = {
      stat: patch.stat,
      totals: `${n(patch.filesChanged, "file")} changed, ${n(patch.insertions, "insertion")}(+), ${n(patch.deletions, "deletion")}(-)`,
      base: `${patch.baseRef} (${patch.baseSha.slice(0, 12)})`,
      download: input.downloadHref,
      files,
      cut: budget < 0 || patch.diff.split("\n").length > MAX_LINES ? `The diff is longer than ${MAX_LINES} lines; download the patch to see all of it.` : null,
    };
  }
  return { patch: view, published: patch?.published ? publishedView(patch.published) : null, commands: input.commands.map(commandView), skipped: input.snapshot?.skipped ?? [] };
}
