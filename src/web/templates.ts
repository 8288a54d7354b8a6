import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ServerResponse } from "node:http";
import { Eta } from "eta";
import type { ChangeView } from "./change-view.js";
import type { SummaryView } from "./session-view.js";
import type { TimelineItem } from "./timeline.js";

/**
 * Server-side rendering with eta. Every `<%= %>` is HTML-escaped; the only raw insertions are
 * sanitized Markdown (markdown.ts) and other rendered templates. Pages carry a strict CSP: no
 * inline script or style, scripts and styles from this origin only.
 */

const VIEWS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "views");

const eta = new Eta({ views: VIEWS_DIR, cache: true, autoEscape: true });

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' https: data:",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** The page header's account part: who is signed in (with Sign out), or where to sign in. */
export type AccountBar = {
  user: { login: string; forge: string } | null;
  logout: { token: string; returnTo: string } | null;
  signIn: { href: string; text: string }[];
};

export type MessagePage = { heading: string; text: string; tone: "info" | "warn" | "error"; link?: { href: string; text: string }; account?: AccountBar | null };

export type ListPage = {
  statuses: readonly string[];
  filter: { status?: string | undefined; forge?: string | undefined; repo?: string | undefined };
  rows: { id: number; href: string; status: string; forge: string; repo: string; thread: string; actor: string; origin: string; created: string }[];
  nextHref: string | null;
};

export function renderSessionPage(data: { summary: SummaryView; items: TimelineItem[]; streamUrl: string; account: AccountBar | null; change?: ChangeView | null }): string {
  return eta.render("./session", data);
}

export function renderSummary(summary: SummaryView): string {
  return eta.render("./summary", summary);
}

export function renderItem(item: TimelineItem): string {
  return eta.render("./item", item);
}

export function renderMessage(page: MessagePage): string {
  return eta.render("./message", { link: null, account: null, ...page });
}

export function renderList(page: ListPage): string {
  return eta.render("./list", page);
}

/** Sends an HTML page with the security headers every page carries. */
export function sendHtml(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-length": String(Buffer.byteLength(html)),
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    ...headers,
  });
  res.end(html);
}

export function sendMessage(res: ServerResponse, status: number, page: MessagePage, headers?: Record<string, string>): void {
  sendHtml(res, status, renderMessage(page), headers);
}

/** Any view under views/ with its data (the setup and status pages' own views). */
export function renderView(name: string, data: object): string {
  return eta.render(`./${name}`, data);
}
