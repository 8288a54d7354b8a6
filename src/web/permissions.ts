import { ForgeNotConfiguredError } from "../sessions/errors.js";
import type { Actor, RepoAccess } from "../sessions/forge-port.js";
import type { ForgeProvider } from "../sessions/ports.js";
import { sessionVisibility, type Session } from "../sessions/session.js";
import type { ForgeUser } from "../sessions/sign-in-port.js";
import { within } from "./time-limit.js";

/**
 * What a signed-in user may do with a session's repository, asked of the forge with the bot's
 * own credentials (GitHub: the collaborator permission; GitLab: the project membership). Page
 * views reuse an answer for up to `cacheMs` (at most a minute), one entry per user, repository
 * and visibility, so a permission removed is seen within that time; actions always ask afresh.
 */

export type Permissions = {
  /** Throws PermissionCheckError when the forge cannot answer. */
  accessOf(user: ForgeUser, session: Session, options?: { fresh?: boolean }): Promise<RepoAccess>;
};

/** The forge did not answer a permission check (down, slow, or a 5xx). */
export class PermissionCheckError extends Error {
  override name = "PermissionCheckError";
}

export type PermissionOptions = {
  cacheMs: number;
  /** A check slower than this fails: a page must not hang on the forge. */
  timeoutMs?: number;
  maxEntries?: number;
  now?: () => number;
};

const NONE: RepoAccess = { read: false, write: false };
const MAX_CACHE_MS = 60_000;

export function createPermissions(forges: ForgeProvider, options: PermissionOptions): Permissions {
  const cacheMs = Math.min(Math.max(0, options.cacheMs), MAX_CACHE_MS);
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { access: RepoAccess; until: number }>();

  async function ask(user: ForgeUser, session: Session): Promise<RepoAccess> {
    let forge;
    try {
      forge = forges.forgeFor(session.forge);
    } catch {
      // A session of a forge no longer configured: nobody can be checked, nobody may act.
      return { read: sessionVisibility(session) === "public", write: false };
    }
    const actor: Actor = { id: user.id, login: user.login, ...(user.external ? { external: true } : {}) };
    const visibility = sessionVisibility(session);
    try {
      const timeoutMs = options.timeoutMs ?? 10_000;
      // A check slower than the limit fails; the one given up on is left to finish, its answer dropped.
      return await within(
        (async () => {
          const client = await forge.clientFor(session.callbackContext.thread);
          if (client.accessOf) return client.accessOf(actor, visibility);
          const write = await client.canUseBot(actor);
          return { read: visibility === "public" || write, write };
        })(),
        timeoutMs,
        (): never => {
          throw new PermissionCheckError(`no answer within ${timeoutMs} ms`);
        },
      );
    } catch (err: unknown) {
      if (err instanceof ForgeNotConfiguredError) return { read: visibility === "public", write: false };
      if (err instanceof PermissionCheckError) throw err;
      throw new PermissionCheckError(`the ${session.forge} permission check failed`, { cause: err });
    }
  }

  return {
    async accessOf(user, session, { fresh = false } = {}) {
      // Only a user of the session's own forge and host can hold a permission there.
      if (user.forge !== session.forge || user.host !== session.host) return NONE;
      const key = [user.forge, user.host, user.id, session.repoId, sessionVisibility(session)].join("\u0000");
      const cached = cache.get(key);
      if (!fresh && cached && cached.until > now()) return cached.access;
      const access = await ask(user, session);
      if (cacheMs > 0) {
        cache.delete(key);
        cache.set(key, { access, until: now() + cacheMs });
        // Oldest first out: a Map iterates in insertion order.
        for (const old of cache.keys()) {
          if (cache.size <= maxEntries) break;
          cache.delete(old);
        }
      }
      return access;
    },
  };
}
