import type { ArchiveEntry } from "../helpers/archives.js";
import { CHANGE_REPO, NEW_INDEX } from "../helpers/change-session.js";
import type { FakeFile } from "../helpers/fake-github.js";
import type { FakeReply, ModelRequest } from "../helpers/fake-openai.js";
import { githubExample } from "../helpers/payloads.js";
import { APP_PATCH, BIG_PATCH, C_PATCH_FULL, GROUP_ONE, GROUP_TWO } from "../integration/review/fixtures.js";

/**
 * The three kinds of session crash-flows.test.ts runs side by side on one fake GitHub and one
 * scripted model: chat (a read tool, then an answer), review (two groups of files, each ending on
 * `submit_review`) and change (two edits, `sh test.sh` in the sandbox, an answer; then
 * `@forgebot apply` publishes it). Every model request is logged with its session's tag and the
 * step it asks for, so the test can tell a step asked again after its checkpoint was written.
 */

export type FlowKind = "chat" | "review" | "change";

/** Issue or pull request numbers: one thread per session, so thread memory never mixes them. */
export const THREAD_BASE: Record<FlowKind, number> = { chat: 1, review: 101, change: 201 };

/** The repository change sessions work on: test.sh appends a line to ran.log each time it runs. */
export const RAN_LOG_LINE = "ran";
export const FLOW_REPO: ArchiveEntry[] = CHANGE_REPO.map((e) =>
  e.type === "File" && e.path === "test.sh"
    ? { ...e, content: `#!/bin/sh\nset -e\necho ${RAN_LOG_LINE} >> ran.log\ngrep -q 'return a - b;' src/math.js\ngrep -q 'sub' src/index.js\necho 'all checks passed'\n` }
    : e,
);
export const MATH_AFTER = "export function sub(a, b) {\n  return a - b;\n}\n";
export const TEST_COMMAND = "sh test.sh";

/** The pull requests reviewed: two groups of files at AGENT_MAX_TOKENS=36000. */
export const REVIEW_FILES: FakeFile[] = [
  { filename: "src/app.ts", status: "modified", patch: APP_PATCH, changes: 5 },
  { filename: "src/big.ts", status: "added", patch: BIG_PATCH, changes: 60 },
  { filename: "src/c.ts", status: "renamed", previous_filename: "src/old-c.ts", patch: C_PATCH_FULL, changes: 42 },
];
/** Inline comments one review carries (GROUP_ONE's five placeable findings, GROUP_TWO's one). */
export const REVIEW_INLINE_COMMENTS = 6;

export function tagOf(kind: FlowKind, i: number): string {
  return `crash-${kind}-${i}`;
}

/** The mention that starts session `i` of a kind (or, for a change, `apply`s it). */
export function mentionPayload(kind: FlowKind, i: number, body: string, commentId: number): Record<string, unknown> {
  return githubExample("issue_comment", "created", (p) => {
    p.issue.number = THREAD_BASE[kind] + i;
    p.issue.title = `Numbers ${tagOf(kind, i)}`;
    if (kind === "review") p.issue.pull_request = { url: `https://api.github.com/repos/Codertocat/Hello-World/pulls/${THREAD_BASE.review + i}` };
    p.comment.id = commentId;
    p.comment.body = body;
    p.comment.created_at = new Date().toISOString();
  });
}

export function firstMention(kind: FlowKind, i: number): string {
  const tag = tagOf(kind, i);
  if (kind === "chat") return `@forgebot walk the repository ${tag}`;
  if (kind === "review") return `@forgebot review ${tag}`;
  return `@forgebot change make sub subtract and export it ${tag}`;
}

/**
 * A model request as the test keys it: chat and change steps by the tool results they carry,
 * review requests by their group (each group is one step in its own context window).
 */
export type Asked = { kind: FlowKind; tag: string; key: number; at: number };

const CHANGE_STEPS: FakeReply[] = [
  { kind: "tools", calls: [{ name: "write_file", input: { path: "src/index.js", content: NEW_INDEX } }] },
  { kind: "tools", calls: [{ name: "edit_file", input: { path: "src/math.js", old_text: "return a + b;", new_text: "return a - b;" } }] },
  { kind: "tools", calls: [{ name: "run", input: { command: TEST_COMMAND } }] },
];

/** Expected model requests of a session that is never interrupted. */
export const STEPS_PER_SESSION: Record<FlowKind, number> = { chat: 2, review: 2, change: CHANGE_STEPS.length + 1 };

/** The scripted model for all three flows; appends every request to `asked`. */
export function flowsScript(asked: Asked[]): (r: ModelRequest) => FakeReply {
  return (r) => {
    const at = Date.now();
    if (r.raw.includes("submit_review")) {
      const tag = /crash-review-\d+/.exec(r.raw)?.[0] ?? "?";
      const group = r.raw.includes("### src/app.ts") ? 1 : r.raw.includes("### src/c.ts") ? 2 : 0;
      asked.push({ kind: "review", tag, key: group, at });
      if (group === 1) return { kind: "tools", calls: [GROUP_ONE] };
      if (group === 2) return { kind: "tools", calls: [GROUP_TWO] };
      return { kind: "tools", calls: [{ name: "submit_review", input: { findings: [] } }] };
    }
    const change = /crash-change-\d+/.exec(r.raw)?.[0];
    if (change) {
      asked.push({ kind: "change", tag: change, key: r.toolResults, at });
      return CHANGE_STEPS[r.toolResults] ?? { kind: "text", text: `Done ${change}.` };
    }
    const tag = /crash-chat-\d+/.exec(r.raw)?.[0] ?? "?";
    asked.push({ kind: "chat", tag, key: r.toolResults, at });
    return r.toolResults === 0 ? { kind: "tools", calls: [{ name: "list_directory", input: { path: "" } }] } : { kind: "text", text: `Done ${tag}.` };
  };
}
