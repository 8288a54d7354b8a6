import type { PublishStore } from "../agent/publish/store.js";
import { inTransaction, type Db } from "./pool.js";

/** Publish steps and published change requests (migration 009), and the patch's publish columns (008). */
export function createPublishStore(db: Db): PublishStore {
  return {
    async claimStep(sessionId, run, step) {
      // The first claim inserts; a repeat finds the row and whatever result it holds.
      const { rows } = await db.query<{ inserted: boolean; result: unknown }>(
        `WITH claimed AS (
           INSERT INTO session_publish_steps (session_id, run, step) VALUES ($1, $2, $3)
           ON CONFLICT (session_id, run, step) DO NOTHING RETURNING result
         )
         SELECT true AS inserted, result FROM claimed
         UNION ALL
         SELECT false AS inserted, result FROM session_publish_steps
         WHERE session_id = $1 AND run = $2 AND step = $3 AND NOT EXISTS (SELECT 1 FROM claimed)`,
        [sessionId, run, step],
      );
      const row = rows[0];
      return { first: row?.inserted ?? false, result: row?.result ?? null };
    },

    async completeStep(sessionId, run, step, result) {
      await db.query("UPDATE session_publish_steps SET result = $4::jsonb, done_at = now() WHERE session_id = $1 AND run = $2 AND step = $3", [
        sessionId,
        run,
        step,
        JSON.stringify(result),
      ]);
    },

    async markPublished(sessionId, publication, opened) {
      const { branch, commit, ...rest } = publication;
      const changeRequest = { ...rest, commitUrl: commit.url };
      await inTransaction(db, async (client) => {
        await client.query(
          `UPDATE session_patches SET published_branch = $2, published_commit = $3, change_request = $4::jsonb,
             published_at = COALESCE(published_at, now()), updated_at = now() WHERE session_id = $1`,
          [sessionId, branch, commit.sha, JSON.stringify(changeRequest)],
        );
        // The session's `published` event, once per run: a repeated attempt (its worker died
        // before the session recorded the outcome) finds it and adds no second one.
        await client.query(
          `INSERT INTO session_events (session_id, kind, data)
           SELECT $1, 'published', $2::jsonb
           WHERE NOT EXISTS (SELECT 1 FROM session_events WHERE session_id = $1 AND kind = 'published' AND data->>'run' = $3)`,
          [
            sessionId,
            JSON.stringify({ run: publication.run, mode: publication.mode, branch, commit: commit.sha, changeRequest: rest.changeRequest.reference, url: rest.changeRequest.url }),
            String(publication.run),
          ],
        );
        if (opened) {
          await client.query(
            `INSERT INTO published_change_requests (forge, host, repo_id, number, session_id, branch, url)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (forge, host, repo_id, number) DO NOTHING`,
            [opened.forge, opened.host, opened.repoId, opened.number, sessionId, branch, publication.changeRequest.url],
          );
        }
      });
    },

    async findPublished(key) {
      const { rows } = await db.query<{ session_id: string; branch: string; conversation_key: string }>(
        `SELECT p.session_id, p.branch, s.conversation_key FROM published_change_requests p JOIN sessions s ON s.id = p.session_id
         WHERE p.forge = $1 AND p.host = $2 AND p.repo_id = $3 AND p.number = $4`,
        [key.forge, key.host, key.repoId, key.number],
      );
      const row = rows[0];
      return row ? { sessionId: Number(row.session_id), branch: row.branch, conversationKey: row.conversation_key } : null;
    },
  };
}
