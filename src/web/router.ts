import type { IncomingMessage, ServerResponse } from "node:http";

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>, url: URL) => Promise<void> | void;
type Route = { method: string; pattern: RegExp; keys: string[]; handler: RouteHandler };

/** A few dozen lines of routing: `:name` segments, exact methods, 404/405 otherwise. */
export class Router {
  readonly #routes: Route[] = [];

  add(method: string, path: string, handler: RouteHandler): this {
    const keys: string[] = [];
    const source = path.replace(/:([A-Za-z]+)/g, (_m, key: string) => {
      keys.push(key);
      return "([^/]+)";
    });
    this.#routes.push({ method, pattern: new RegExp(`^${source}/?$`), keys, handler });
    return this;
  }

  match(method: string, pathname: string): { handler: RouteHandler; params: Record<string, string> } | "not_found" | "method_not_allowed" {
    let pathMatched = false;
    for (const route of this.#routes) {
      const m = route.pattern.exec(pathname);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== method && !(route.method === "GET" && method === "HEAD")) continue;
      const params: Record<string, string> = {};
      try {
        route.keys.forEach((key, i) => {
          params[key] = decodeURIComponent(m[i + 1] ?? "");
        });
      } catch (err: unknown) {
        // A malformed escape (`/sessions/%E0`) names no resource; it must not throw in the listener.
        if (err instanceof URIError) return "not_found";
        throw err;
      }
      return { handler: route.handler, params };
    }
    return pathMatched ? "method_not_allowed" : "not_found";
  }
}
