import { ForgeApiError, type Actor, type ForgeClient, type NoteRef, type RepoAccess, type RepoVisibility, type ThreadRef } from "../../sessions/forge-port.js";
import { call, type ApiNote, type GitLabApi } from "./api.js";
import { createGitLabPublisher } from "./publish.js";
import { createReadTools } from "./reads.js";
import { createGitLabReview } from "./review.js";

export type GitLabClientSettings = {
  /** Lowest project access level that may start sessions (30 = Developer). */
  minAccessLevel: number;
  /** The token's user: only its notes count when looking for a marker. */
  selfUserId: string;
};

const MARKER_PAGE_SIZE = 100;
/** GitLab's lowest membership role. */
const GUEST = 10;
const MARKER_MAX_PAGES = 20;

/**
 * The GitLab ForgeClient for one project. Paths use the project id and the thread's iid (never
 * the database id); replies go into the triggering note's discussion, so a diff note is answered
 * beside the diff and an internal discussion gets internal replies.
 */
export function createGitLabClient(api: GitLabApi, bound: ThreadRef, settings: GitLabClientSettings): ForgeClient {
  const projectId = bound.repoId;
  const notesOf = (thread: ThreadRef) => (thread.kind === "change_request" ? api.mergeRequestNotes : api.issueNotes);
  const discussionsOf = (thread: ThreadRef) => (thread.kind === "change_request" ? api.mergeRequestDiscussions : api.issueDiscussions);
  const ref = (note: { id: number }): NoteRef => ({ id: String(note.id), type: "note" });

  async function postTopLevel(thread: ThreadRef, body: string): Promise<NoteRef> {
    const options = thread.internal ? { internal: true } : {};
    return ref(await call<ApiNote>("create note", () => notesOf(thread).create(projectId, thread.number, body, options)));
  }

  /** The actor's access level as an active member (inherited membership counts); 0 when not a member. */
  async function accessLevelOf(actor: Actor): Promise<number> {
    try {
      const member = await call<{ access_level: number; state?: string }>("member lookup", () =>
        api.projectMembers.show(projectId, Number(actor.id), { includeInherited: true }),
      );
      return member.state === undefined || member.state === "active" ? member.access_level : 0;
    } catch (err: unknown) {
      if (err instanceof ForgeApiError && err.status === 404) return 0;
      throw err;
    }
  }

  return {
    async canUseBot(actor: Actor) {
      return (await accessLevelOf(actor)) >= settings.minAccessLevel;
    },

    async accessOf(actor: Actor, visibility: RepoVisibility): Promise<RepoAccess> {
      const level = await accessLevelOf(actor);
      // Private: members (Guest and up); internal: every user of this GitLab but an external
      // one, who must be a member; public: anyone.
      const member = level >= GUEST;
      const read = visibility === "public" || member || (visibility === "internal" && actor.external !== true);
      return { read, write: level >= settings.minAccessLevel };
    },

    async postNote(thread: ThreadRef, body: string): Promise<NoteRef> {
      if (thread.replyTo?.type !== "discussion") return postTopLevel(thread, body);
      const { discussionId } = thread.replyTo;
      try {
        // A reply inherits the discussion's internal flag on GitLab's side.
        return ref(await call<ApiNote>("reply in discussion", () => discussionsOf(thread).addNote(projectId, thread.number, discussionId, body)));
      } catch (err: unknown) {
        // The discussion is gone (its only note was deleted): answer in the thread instead.
        if (err instanceof ForgeApiError && err.status === 404) return postTopLevel(thread, body);
        throw err;
      }
    },

    async findNoteByMarker(thread: ThreadRef, marker: string, since?: Date): Promise<NoteRef | null> {
      // Newest first; our note is recent, so stop at the first page older than `since`.
      const floor = since ? since.getTime() - 60_000 : null;
      for (let page = 1; page <= MARKER_MAX_PAGES; page += 1) {
        const notes = await call<ApiNote[]>("list notes", () =>
          notesOf(thread).all(projectId, thread.number, { sort: "desc", orderBy: "created_at", page, perPage: MARKER_PAGE_SIZE }),
        );
        // A human pasting a marker must not fool us: only the bot user's notes count.
        const found = notes.find((n) => String(n.author?.id) === settings.selfUserId && n.body.includes(marker));
        if (found) return ref(found);
        const oldest = notes[notes.length - 1];
        if (notes.length < MARKER_PAGE_SIZE || !oldest) return null;
        if (floor !== null && Date.parse(oldest.created_at) < floor) return null;
      }
      return null;
    },

    async deleteNote(thread: ThreadRef, note: NoteRef): Promise<void> {
      await call("delete note", () => notesOf(thread).remove(projectId, thread.number, Number(note.id)));
    },

    ...createReadTools(api, projectId),
    ...createGitLabReview(api, projectId, settings.selfUserId),
    publish: createGitLabPublisher(api, projectId, bound.host),
  };
}
