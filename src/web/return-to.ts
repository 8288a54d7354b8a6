/** Longest `return_to` kept; session links are far shorter. */
const MAX_RETURN_TO = 2048;

/**
 * A `return_to` that stays on this site: a path (`/sessions/12?sig=…`), never a URL of another
 * host, a protocol-relative `//host`, a backslash (browsers read `/\host` as `//host`) or a
 * control character. Null means refuse it.
 */
export function safeReturnTo(raw: string | null | undefined, publicUrl: string): string | null {
  if (!raw || raw.length > MAX_RETURN_TO) return null;
  if (!raw.startsWith("/") || raw.startsWith("//")) return null;
  if (/[\\\u0000-\u001f\u007f]/.test(raw)) return null;
  const base = new URL(publicUrl);
  let resolved: URL;
  try {
    resolved = new URL(raw, base);
  } catch {
    return null;
  }
  if (resolved.origin !== base.origin) return null;
  const kept = `${resolved.pathname}${resolved.search}`;
  // Dot segments can collapse to a protocol-relative URL: `/.//host`, `/a/..//host`, `/%2e//host` become `//host`.
  if (kept.startsWith("//") || new URL(kept, base).origin !== base.origin) return null;
  return kept;
}
