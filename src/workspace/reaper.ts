import { readdir, rm } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../sessions/ports.js";
import type { WorkspaceStore } from "./store.js";

/**
 * Removes workspaces nobody will use again: a session's directory under WORKSPACE_DIR whose
 * session ended (or no longer exists). A flow removes its own workspace when its session ends;
 * this catches the ones a crash, a stop from another process or the reaper's timeout left
 * behind. Workspaces of sessions still running or waiting for input are kept.
 */
export async function sweepWorkspaces(dir: string, store: Pick<WorkspaceStore, "findActiveSessions">, log: Logger): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const ids = names.filter((n) => /^\d{1,15}$/.test(n)).map(Number);
  const active = await store.findActiveSessions(ids);
  const removed: number[] = [];
  for (const id of ids) {
    if (active.has(id)) continue;
    try {
      await rm(path.join(dir, String(id)), { recursive: true, force: true });
      removed.push(id);
    } catch (err: unknown) {
      log.warn({ err, sessionId: id }, "orphaned workspace could not be removed");
    }
  }
  if (removed.length) log.info({ sessionIds: removed }, "orphaned workspaces removed");
  return removed;
}
