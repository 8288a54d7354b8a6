import nock from "nock";
import type { FakeGitHub } from "./fake-github.js";

/**
 * Puts a FakeGitHub behind nock for https://api.github.com (the REST API) and https://github.com
 * (the OAuth web flow sign-in uses), so in-process tests keep the network off (only 127.0.0.1
 * is allowed) while the fake keeps state across requests.
 */
export function nockGitHub(fake: FakeGitHub): nock.Scope {
  nock.disableNetConnect();
  nock.enableNetConnect((host) => host.startsWith("127.0.0.1") || host.startsWith("localhost"));
  const scope = nock("https://api.github.com").persist();
  const web = nock("https://github.com").persist();
  for (const target of [scope, web]) {
    for (const method of ["get", "post", "patch", "delete"] as const) {
      target[method](/.*/).reply(async function (uri, body) {
        const text = typeof body === "string" ? body : body ? JSON.stringify(body) : "";
        const headers = Object.fromEntries(Object.entries(this.req.headers).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
        const [status, payload, answerHeaders] = await fake.respond(method.toUpperCase(), uri, text, headers);
        return [status, payload === undefined ? "" : (payload as nock.Body), answerHeaders ?? {}];
      });
    }
  }
  return scope;
}
