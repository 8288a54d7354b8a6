import { existsSync, lstatSync, readlinkSync, statSync } from "node:fs";
import path from "node:path";

/**
 * The bubblewrap command line for one sandboxed command. What the command sees: the system
 * directories read-only (whatever toolchains the worker's image installed there), a handful of
 * harmless files from /etc, a private /proc, /dev and /tmp, and the workspace mounted read-write
 * at /workspace — the only writable place besides /tmp. New user, pid, ipc, uts, cgroup and
 * network namespaces: no network at all, not even the host's loopback.
 */

/** Where the workspace appears inside the sandbox. */
export const SANDBOX_WORKSPACE = "/workspace";

/** The system's program directories, where the image installs git and a repository's toolchains. */
export const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The whole environment a command gets. */
export const SANDBOX_ENV: Readonly<Record<string, string>> = {
  PATH: SYSTEM_PATH,
  HOME: "/tmp",
  LANG: "C.UTF-8",
};

/** Read-only system trees; symlinks (merged /usr) are recreated as symlinks. */
const SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt"];

/**
 * Files of /etc programs need (the dynamic loader's cache, alternatives behind /usr/bin links,
 * certificates, users and groups without their passwords). Not /etc as a whole: it holds the
 * host's secrets (shadow, ssh keys, credentials of installed services).
 */
const ETC_ENTRIES = [
  "alternatives",
  "ld.so.cache",
  "ld.so.conf",
  "ld.so.conf.d",
  "localtime",
  "ssl",
  "ca-certificates",
  "mime.types",
  "nsswitch.conf",
  "passwd",
  "group",
  "hosts",
  "os-release",
  "debian_version",
  "gitconfig",
  "java-17-openjdk",
  "java-21-openjdk",
];

export type SandboxLimits = {
  /** RLIMIT_CPU per process, seconds. */
  cpuSeconds: number;
  /** RLIMIT_DATA per process: heap and other private writable memory. */
  memoryBytes: number;
  /** RLIMIT_NPROC: processes of the sandbox's user. */
  processes: number;
  /** RLIMIT_FSIZE: largest file a command may write. */
  fileBytes: number;
  /** RLIMIT_NOFILE. */
  openFiles: number;
  /** Size of the private /tmp. */
  tmpBytes: number;
};

export const DEFAULT_LIMITS: SandboxLimits = {
  cpuSeconds: 300,
  memoryBytes: 2 * 1024 ** 3,
  processes: 256,
  fileBytes: 256 * 1024 ** 2,
  openFiles: 1024,
  tmpBytes: 256 * 1024 ** 2,
};

/** `prlimit` arguments: the limits apply to the command and everything it starts. */
export function prlimitArgs(limits: SandboxLimits): string[] {
  return [
    `--cpu=${limits.cpuSeconds}`,
    `--data=${limits.memoryBytes}`,
    `--nproc=${limits.processes}`,
    `--fsize=${limits.fileBytes}`,
    `--nofile=${limits.openFiles}`,
    "--core=0",
    "--",
  ];
}

function mountSystem(args: string[], dir: string): void {
  let stat;
  try {
    stat = lstatSync(dir);
  } catch {
    return;
  }
  if (stat.isSymbolicLink()) args.push("--symlink", readlinkSync(dir), dir);
  else if (stat.isDirectory()) args.push("--ro-bind", dir, dir);
}

/** True when `p` is `dir` or below it. */
function under(p: string, dir: string): boolean {
  return p === dir || p.startsWith(`${dir}/`);
}

/** The host user a command runs as (a root worker's unprivileged one); undefined: the worker's own. */
export type BwrapUser = { uid: number; gid: number };

/**
 * True when `user` can reach `p`: every directory above it is searchable by that user. What it
 * cannot reach needs no mask, and cannot take one: bubblewrap, running as that user, would fail
 * to find the mount point, and with it every command (a key kept in a root-only directory
 * under /opt disabled `run` on the worker).
 */
function reachableBy(p: string, user: BwrapUser | undefined): boolean {
  if (!user) return true;
  for (let dir = path.dirname(p); ; dir = path.dirname(dir)) {
    let info;
    try {
      info = statSync(dir);
    } catch {
      return false;
    }
    const search = info.uid === user.uid ? 0o100 : info.gid === user.gid ? 0o010 : 0o001;
    if ((info.mode & search) === 0) return false;
    if (dir === path.dirname(dir)) return true;
  }
}

/**
 * Masks for the worker's own files that would otherwise show through a system mount (a worker
 * installed under /usr or /opt): its data directory, private key, models file, working
 * directory and every other session's workspace. A directory becomes an empty tmpfs, a file
 * an empty file.
 */
function maskArgs(hidden: readonly string[], mounted: readonly string[], user: BwrapUser | undefined): string[] {
  const args: string[] = [];
  for (const raw of hidden) {
    const p = path.resolve(raw);
    // Only what shows through a system mount, and never a system tree itself.
    if (mounted.some((m) => under(m, p)) || !mounted.some((m) => under(p, m)) || !existsSync(p)) continue;
    if (!reachableBy(p, user)) continue;
    if (statSync(p).isDirectory()) args.push("--tmpfs", p);
    else args.push("--ro-bind", "/dev/null", p);
  }
  return args;
}

export type BwrapInput = {
  /** The workspace tree on the host, mounted read-write at /workspace. */
  tree: string;
  command: string;
  limits: SandboxLimits;
  /** Host paths that must stay unreadable inside. */
  hidden: readonly string[];
  /** Who runs the command, when not the worker itself. */
  user?: BwrapUser | undefined;
};

/** `bwrap` arguments (after the program name) for `sh -c command` in the workspace. */
export function bwrapArgs(input: BwrapInput): string[] {
  const args = [
    "--unshare-user",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-net",
    "--unshare-cgroup-try",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
    "--hostname",
    "sandbox",
  ];
  const mounted: string[] = [];
  for (const dir of SYSTEM_DIRS) {
    const before = args.length;
    mountSystem(args, dir);
    if (args.length > before && args[before] === "--ro-bind") mounted.push(dir);
  }
  args.push("--dir", "/etc");
  for (const entry of ETC_ENTRIES) {
    const host = `/etc/${entry}`;
    if (existsSync(host)) args.push("--ro-bind", host, host);
  }
  args.push("--proc", "/proc", "--dev", "/dev");
  args.push("--size", String(input.limits.tmpBytes), "--tmpfs", "/tmp");
  args.push(...maskArgs(input.hidden, mounted, input.user));
  args.push("--bind", input.tree, SANDBOX_WORKSPACE);
  // bubblewrap's own root (a tmpfs holding the mount points) read-only too: only /workspace and /tmp are writable.
  args.push("--remount-ro", "/", "--chdir", SANDBOX_WORKSPACE);
  args.push("--clearenv");
  for (const [name, value] of Object.entries(SANDBOX_ENV)) args.push("--setenv", name, value);
  args.push("--", "/bin/sh", "-c", input.command);
  return args;
}
