/**
 * Actor ids are `<forge>:<id>`: a user (`github:octocat`, `gitlab:42`), a repository
 * (`github:repo:owner/name`) or a project (`gitlab:project:group/name`). They are compared in
 * lower case, since forge logins and paths are case-insensitive.
 */
const ACTOR_PATTERN = /^(github|gitlab):[^\s,]+$/;

/** Raised for operator input the flags module cannot accept; the CLI turns it into exit code 2. */
export class FlagInputError extends Error {
  override name = "FlagInputError";
}

/** The form actor ids are stored and compared in. */
export function normalizeActor(raw: string): string {
  return raw.trim().toLowerCase();
}

/** Normalizes and validates an operator-given actor id; throws FlagInputError with a readable message. */
export function parseActor(raw: string): string {
  const actor = normalizeActor(raw);
  if (!ACTOR_PATTERN.test(actor)) {
    throw new FlagInputError(`invalid actor "${raw}": expected <forge>:<id> such as github:octocat, gitlab:42 or github:repo:owner/name`);
  }
  return actor;
}
