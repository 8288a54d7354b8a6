import nock from "nock";
import type { FakeGitHub } from "./fake-github.js";

/**
 * Puts a FakeGitHub behind nock for https://api.github.com, so in-process tests keep the
 * network off (only 127.0.0.1 is allowed) while the fake keeps state across requests.
 */
export function nockGitHub(fake: FakeGitHub): nock.Scope {
  nock.disableNetConnect();
  nock.enableNetConnect((host) => host.startsWith("127.0.0.1") || host.startsWith("localhost"));
  const scope = nock("https://api.github.com").persist();
  for (const method of ["get", "post", "patch", "delete"] as const) {
    scope[method](/.*/).reply(async (uri, body) => {
      const text = typeof body === "string" ? body : body ? JSON.stringify(body) : "";
      const [status, payload, headers] = await fake.respond(method.toUpperCase(), uri, text);
      return [status, payload === undefined ? "" : (payload as nock.Body), headers ?? {}];
    });
  }
  return scope;
}
