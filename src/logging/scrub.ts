/**
 * The last line of defence behind pino's path redaction: runs on every serialized log line, so
 * it also covers nesting and shapes no path anticipates (a logged config, an error's request).
 * String values under secret-looking keys and well-known token formats become "[redacted]".
 * Numbers stay (`inputTokens: 120` is usage, not a secret).
 */
const SECRET_KEY = String.raw`[^"\\]*(?:token|secret|password|passwd|private[-_]?key|api[-_]?key|authorization|cookie|signature|credential)[^"\\]*`;
const JSON_STRING = String.raw`"(?:[^"\\]|\\.)*"`;
const SECRET_FIELD = new RegExp(String.raw`("${SECRET_KEY}"\s*:\s*)${JSON_STRING}`, "gi");

const TOKEN_FORMATS: RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
  /\bgh[pousr]_[A-Za-z0-9]{16,}\b/g, // GitHub tokens
  /\bgithub_pat_[A-Za-z0-9_]{20,}\b/g,
  /\bglpat-[A-Za-z0-9_-]{16,}\b/g, // GitLab personal access tokens
  /\bsk-[A-Za-z0-9_-]{16,}\b/g, // OpenAI, Anthropic
  /\bAKIA[0-9A-Z]{16}\b/g, // AWS access key ids
  /\b(Bearer|token)\s+[A-Za-z0-9._~+/=-]{16,}/g,
];

export function scrubSecrets(line: string): string {
  let out = line.replace(SECRET_FIELD, '$1"[redacted]"');
  for (const format of TOKEN_FORMATS) out = out.replace(format, (match, scheme?: string) => (typeof scheme === "string" ? `${scheme} [redacted]` : "[redacted]"));
  return out;
}
