import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";

/**
 * Counts, per process, the established TCP connections to a Postgres port, from /proc (Linux):
 * the client sockets in /proc/net/tcp{,6} whose remote port is Postgres's, matched to each
 * process's file descriptors by inode. Needs no connection of its own, so counting never takes
 * a slot from the processes counted.
 */
export function createSocketCounter(port: number): (pids: number[]) => Map<number, number> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const owner = new Map<string, number>();

  function clientInodes(): string[] {
    const inodes: string[] = [];
    for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
      if (!existsSync(table)) continue;
      for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
        const f = line.trim().split(/\s+/);
        // f[2] rem_address "ADDR:PORT", f[3] state (01 = ESTABLISHED), f[9] inode.
        if (f.length > 9 && f[3] === "01" && f[2]!.endsWith(`:${hexPort}`)) inodes.push(f[9]!);
      }
    }
    return inodes;
  }

  function rescan(pids: number[], inodes: string[]): void {
    owner.clear();
    for (const pid of pids) {
      let fds: string[];
      try {
        fds = readdirSync(`/proc/${pid}/fd`);
      } catch {
        continue; // exited
      }
      for (const fd of fds) {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
          if (m) owner.set(m[1]!, pid);
        } catch {
          // closed between readdir and readlink
        }
      }
    }
    // Other processes' sockets (this one's sampler, say): known, so they trigger no rescan.
    for (const inode of inodes) if (!owner.has(inode)) owner.set(inode, -1);
  }

  return (pids) => {
    const inodes = clientInodes();
    // Sockets are long-lived (pooled): rescan descriptors only when an unknown one appears.
    if (inodes.some((i) => !owner.has(i))) rescan(pids, inodes);
    const counts = new Map<number, number>(pids.map((p) => [p, 0]));
    for (const inode of inodes) {
      const pid = owner.get(inode);
      if (pid !== undefined && counts.has(pid)) counts.set(pid, counts.get(pid)! + 1);
    }
    return counts;
  };
}
