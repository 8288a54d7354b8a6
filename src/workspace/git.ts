import { spawn } from "node:child_process";
import { WorkspaceError } from "./errors.js";
import { SYSTEM_PATH } from "./sandbox-args.js";

/**
 * git over a workspace whose repository (GIT_DIR) lives beside the tree, never inside it: the
 * tree is writable by sandboxed commands, and a `.git/config` they could write would otherwise
 * make the worker's own git run programs (fsmonitor, filters, hooks). No system or global
 * configuration is read either.
 */

export type GitPaths = { gitDir: string; tree: string };

export type GitResult = { stdout: Buffer; stderr: string; code: number; /** stdout went past `maxBytes`: git was stopped there. */ overflow: boolean };

/** A fixed identity and time for the snapshot commit: the same archive always gives the same commit. */
const IDENTITY = {
  GIT_AUTHOR_NAME: "forgebot",
  GIT_AUTHOR_EMAIL: "forgebot@localhost",
  GIT_COMMITTER_NAME: "forgebot",
  GIT_COMMITTER_EMAIL: "forgebot@localhost",
  GIT_AUTHOR_DATE: "2000-01-01T00:00:00Z",
  GIT_COMMITTER_DATE: "2000-01-01T00:00:00Z",
};

function gitEnv(paths: GitPaths): NodeJS.ProcessEnv {
  return {
    // The system's directories, not the worker's PATH: git is the image's, like every program a workspace runs.
    PATH: SYSTEM_PATH,
    HOME: paths.gitDir,
    LANG: "C.UTF-8",
    GIT_DIR: paths.gitDir,
    GIT_WORK_TREE: paths.tree,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
    GIT_OPTIONAL_LOCKS: "0",
    ...IDENTITY,
  };
}

/**
 * Options every invocation carries. The tree belongs to the sandbox's user, so it alone is
 * declared safe: a repository a command nests inside it stays untrusted and its configuration
 * unread. Nothing runs (no fsmonitor, hooks or submodule recursion), and loose objects are
 * compressed fast (a snapshot commit hashes the whole repository).
 */
function safeArgs(paths: GitPaths): string[] {
  const settings = [
    `safe.directory=${paths.tree}`,
    `safe.directory=${paths.gitDir}`,
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.quotePath=false",
    "core.looseCompression=1",
    "submodule.recurse=false",
    "diff.ignoreSubmodules=all",
    "protocol.allow=never",
  ];
  return settings.flatMap((setting) => ["-c", setting]);
}

export type GitOptions = {
  input?: Buffer | string;
  /** Most stdout kept; past it git is stopped and the result says `overflow` (default 512 MiB). */
  maxBytes?: number;
  /** Kills git after this long (a search over a hostile tree must not hang a session). */
  timeoutMs?: number;
  /** Extra environment (GIT_INDEX_FILE for an index apart from the workspace's own). */
  env?: Record<string, string>;
};

/** Runs git; resolves with its output whatever the exit code. `input` is written to stdin. */
export function git(paths: GitPaths, args: readonly string[], options: GitOptions = {}): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", [...safeArgs(paths), ...args], { cwd: paths.tree, env: { ...gitEnv(paths), ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = "";
    const max = options.maxBytes ?? 512 * 1024 * 1024;
    child.stdout.on("data", (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > max) {
        child.kill("SIGKILL");
        return;
      }
      out.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      if (err.length < 8000) err += chunk.toString("utf8");
    });
    child.on("error", (cause: Error) => reject(new WorkspaceError("git", `git could not be started (${cause.message}); install git on the worker`, { cause })));
    const timer = options.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), options.timeoutMs) : null;
    child.on("close", (code) => {
      if (timer) clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out), stderr: err, code: code ?? -1, overflow: outBytes > max });
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}

/** Runs git and returns stdout as text; a non-zero exit throws WorkspaceError naming the command. */
export async function gitText(paths: GitPaths, args: readonly string[], options?: GitOptions): Promise<string> {
  const result = await git(paths, args, options);
  if (result.overflow) throw new WorkspaceError("git", `git ${args[0]} printed more than ${options?.maxBytes ?? "512 MiB of"} bytes`);
  if (result.code !== 0) throw new WorkspaceError("git", `git ${args[0]} failed (${result.code}): ${result.stderr.trim().slice(0, 500)}`);
  return result.stdout.toString("utf8");
}

/** Stages the whole tree (ignored files left out) and returns its tree id. */
export async function stageTree(paths: GitPaths): Promise<string> {
  await gitText(paths, ["add", "-A", "--ignore-errors", "."]);
  return (await gitText(paths, ["write-tree"])).trim();
}
