/**
 * Postgres keeps no NUL character in text or jsonb. What a model or a command produced may hold
 * one; it is stored as U+FFFD so the write succeeds and everything else is kept.
 */
export function textSafe(text: string): string {
  return text.includes("\u0000") ? text.replaceAll("\u0000", "\uFFFD") : text;
}

/** JSON text for a jsonb parameter, NUL-free (see textSafe). */
export function toJsonb(value: unknown): string {
  const json = JSON.stringify(value);
  return json.includes("\\u0000") ? JSON.stringify(value, (_key, v: unknown) => (typeof v === "string" ? textSafe(v) : v)) : json;
}
