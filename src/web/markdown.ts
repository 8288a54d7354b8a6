import { Marked } from "marked";
import sanitizeHtml from "sanitize-html";

/**
 * Markdown from models and users becomes HTML only through here: marked renders it (raw HTML
 * passes through marked untouched), then sanitize-html keeps a small allow-list. Scripts and
 * styles are dropped with their content, event handler attributes are removed, and links and
 * images may only use http(s) (links also mailto), so `javascript:` URLs never survive.
 */

const marked = new Marked({ gfm: true, breaks: false });

const SANITIZE: sanitizeHtml.IOptions = {
  allowedTags: [...sanitizeHtml.defaults.allowedTags, "img", "del", "ins", "details", "summary", "sup", "sub"],
  allowedAttributes: {
    a: ["href", "title", "rel"],
    img: ["src", "alt", "title", "width", "height"],
    code: ["class"],
    ol: ["start"],
    th: ["align"],
    td: ["align"],
  },
  allowedClasses: { code: [/^language-[\w+-]+$/] },
  allowedSchemes: ["http", "https", "mailto"],
  allowedSchemesByTag: { img: ["http", "https"] },
  allowedSchemesAppliedToAttributes: ["href", "src", "cite"],
  allowProtocolRelative: false,
  disallowedTagsMode: "discard",
  // Images only from absolute http(s) URLs: a relative src would request this server's own pages.
  exclusiveFilter: (frame) => frame.tag === "img" && !/^https?:\/\//i.test(frame.attribs.src ?? ""),
  transformTags: { a: sanitizeHtml.simpleTransform("a", { rel: "nofollow noopener noreferrer" }) },
};

/** Sanitizes HTML (already rendered) with the page's allow-list. */
export function sanitize(html: string): string {
  return sanitizeHtml(html, SANITIZE);
}

/** Renders untrusted Markdown to inert HTML. */
export function renderMarkdown(markdown: string): string {
  return sanitize(marked.parse(markdown, { async: false }));
}

/** An http(s) URL as given, or null: forge URLs are linked only when they cannot run script. */
export function safeHttpUrl(url: string | null | undefined): string | null {
  if (!url || !URL.canParse(url)) return null;
  const { protocol } = new URL(url);
  return protocol === "https:" || protocol === "http:" ? url : null;
}
