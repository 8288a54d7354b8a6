/**
 * Untrusted forge text (comments, titles, files, diffs) reaches the model as data: what a
 * reader of the rendered thread cannot see is removed from prose, invisible characters are
 * removed (prose) or made visible (code), and everything is fenced in a tag the system prompt
 * tells the model never to take instructions from.
 */

/** Zero-width, bidi control, invisible formatting, variation selector and Unicode tag characters. */
const INVISIBLE =
  /[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB]|[\u{E0000}-\u{E007F}]|[\u{E0100}-\u{E01EF}]/gu;

/** Numeric character references that decode to an invisible character. */
const INVISIBLE_ENTITY = /&#(x[0-9a-f]+|\d+);/gi;

const HIDING_ATTRIBUTE = /\shidden(\s|=|\/?>)|\saria-hidden\s*=\s*["']?true|style\s*=\s*["'][^"']*(display\s*:\s*none|visibility\s*:\s*hidden|opacity\s*:\s*0(\.0+)?\s*(;|["'])|font-size\s*:\s*0[a-z%]*\s*(;|["'])|(max-)?(height|width)\s*:\s*0[a-z%]*\s*(;|["']))/i;

const FENCE_TAG = "untrusted-data";

function hides(attributes: string): boolean {
  return HIDING_ATTRIBUTE.test(` ${attributes} `);
}

function isInvisibleCodePoint(code: number): boolean {
  if (!Number.isFinite(code) || code < 0 || code > 0x10ffff) return false;
  return new RegExp(INVISIBLE.source, "u").test(String.fromCodePoint(code));
}

function removeInvisibleEntities(text: string): string {
  return text.replace(INVISIBLE_ENTITY, (entity, value: string) => {
    const code = value[0] === "x" || value[0] === "X" ? Number.parseInt(value.slice(1), 16) : Number.parseInt(value, 10);
    return isInvisibleCodePoint(code) ? "" : entity;
  });
}

/** Removes elements a renderer hides (`hidden`, `display:none`, …) together with their content. */
function removeHiddenElements(text: string): string {
  const element = /<([a-z][a-z0-9-]*)\b([^>]*)>((?:(?!<\1\b)[\s\S])*?)<\/\1\s*>/gi;
  // Visible elements already looked at are set aside (their brackets swapped for private-use
  // characters) so the element around them can match next: nested hidden elements go too.
  let current = text.replace(/[\uE000\uE001]/g, "");
  let previous: string;
  do {
    previous = current;
    current = current.replace(element, (_whole, tag: string, attributes: string, inner: string) =>
      hides(attributes) ? "" : `\uE000${tag}${attributes}\uE001${inner}\uE000/${tag}\uE001`,
    );
  } while (current !== previous);
  // A hiding element left unclosed hides everything after it.
  for (const m of current.matchAll(/<([a-z][a-z0-9-]*)\b([^>]*)>/gi)) {
    if (hides(m[2] ?? "")) {
      current = current.slice(0, m.index);
      break;
    }
  }
  return current.replace(/\uE000/g, "<").replace(/\uE001/g, ">");
}

function sanitizeProseSegment(text: string): string {
  return removeHiddenElements(
    removeInvisibleEntities(text)
      .replace(/<!--[\s\S]*?(-->|$)/g, "")
      // Text in attributes is never shown (alt, title, data-*): keep the tag, drop the attributes.
      .replace(/<([a-z][a-z0-9-]*)\b([^<>]*?)(\/?)>/gi, (whole, tag: string, attributes: string, close: string) =>
        hides(attributes) ? whole : `<${tag}${close}>`,
      ),
  )
    // Markdown image alt text and link titles are not visible either.
    .replace(/!\[[^\]]*\]\(/g, "![](")
    .replace(/\]\(([^)\s]+)\s+(?:"[^"]*"|'[^']*'|\([^)]*\))\s*\)/g, "]($1)")
    .replace(/^\[[^\]]+\]:\s*\S+\s+(?:"[^"]*"|'[^']*'|\([^)]*\))\s*$/gm, "");
}

/** Splits Markdown into code (fenced blocks, inline spans: shown verbatim) and prose. */
function splitCode(text: string): { code: boolean; text: string }[] {
  const pattern = /(^|\n)([ \t]*)(```+|~~~+)[^\n]*\n[\s\S]*?(\n[ \t]*\3[ \t]*(?=\n|$)|$)|(`+)[^`\n]+?\5/g;
  const parts: { code: boolean; text: string }[] = [];
  let last = 0;
  for (let m = pattern.exec(text); m; m = pattern.exec(text)) {
    const start = m.index + (m[1]?.length ?? 0);
    if (start > last) parts.push({ code: false, text: text.slice(last, start) });
    parts.push({ code: true, text: text.slice(start, m.index + m[0].length) });
    last = m.index + m[0].length;
    if (m[0].length === 0) pattern.lastIndex++;
  }
  if (last < text.length) parts.push({ code: false, text: text.slice(last) });
  return parts;
}

/**
 * Comment or description text as a reader sees it rendered: HTML comments, hidden elements,
 * attribute text, image alt text, link titles and invisible characters removed. Code spans
 * and blocks are shown verbatim by forges, so only their invisible characters go.
 */
export function sanitizeProse(text: string): string {
  return splitCode(text.replace(/\r\n?/g, "\n"))
    .map((part) => (part.code ? part.text : sanitizeProseSegment(part.text)))
    .join("")
    .replace(INVISIBLE, "");
}

/** Code and diffs: invisible characters become visible escapes (`<U+202E>`), nothing else changes. */
export function revealInvisible(text: string): string {
  return text.replace(INVISIBLE, (ch) => `<U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}>`);
}

function attribute(value: string): string {
  return revealInvisible(value).replace(/["<>\n\r]/g, " ");
}

/**
 * Wraps untrusted text in `<untrusted-data …>` … `</untrusted-data>`. A closing tag inside the
 * text is defused so the text cannot end the fence early.
 */
export function fence(text: string, attributes: Record<string, string | number | undefined> = {}): string {
  const attrs = Object.entries(attributes)
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k, v]) => ` ${k}="${attribute(String(v))}"`)
    .join("");
  const body = text.replace(new RegExp(`<(\\s*/?\\s*)(${FENCE_TAG})`, "gi"), "<\\$1$2");
  return `<${FENCE_TAG}${attrs}>\n${body}\n</${FENCE_TAG}>`;
}
