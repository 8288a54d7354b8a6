import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { sendJson } from "./http.js";

/** The page's stylesheet and script: a fixed list, read once, revalidated by ETag. */

const STATIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "static");

const FILES: Record<string, string> = {
  "style.css": "text/css; charset=utf-8",
  "session.js": "text/javascript; charset=utf-8",
};

type Asset = { body: Buffer; etag: string; type: string };
const assets = new Map<string, Promise<Asset>>();

function loadAsset(name: string, type: string): Promise<Asset> {
  let asset = assets.get(name);
  if (!asset) {
    asset = readFile(path.join(STATIC_DIR, name)).then((body) => ({
      body,
      type,
      etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
    }));
    // A failed read is retried on the next request instead of being cached.
    asset.catch(() => assets.delete(name));
    assets.set(name, asset);
  }
  return asset;
}

export async function serveStatic(req: IncomingMessage, res: ServerResponse, name: string | undefined): Promise<void> {
  const type = name ? FILES[name] : undefined;
  if (!name || !type) return sendJson(res, 404, { error: "not found" });
  const asset = await loadAsset(name, type);
  const headers = { etag: asset.etag, "cache-control": "no-cache", "x-content-type-options": "nosniff" };
  if (req.headers["if-none-match"] === asset.etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, "content-type": asset.type, "content-length": String(asset.body.length) });
  res.end(asset.body);
}
