import nock from "nock";
import type { FakeGitLab } from "./fake-gitlab.js";

export const FAKE_GITLAB_URL = "https://gitlab.example.com";

/**
 * Puts a FakeGitLab behind nock for `origin`, so in-process tests keep the network off (only
 * 127.0.0.1 is allowed) while the fake keeps state across requests.
 */
export function nockGitLab(fake: FakeGitLab, origin = FAKE_GITLAB_URL): nock.Scope {
  nock.disableNetConnect();
  nock.enableNetConnect((host) => host.startsWith("127.0.0.1") || host.startsWith("localhost"));
  const scope = nock(origin).persist();
  for (const method of ["get", "post", "put", "delete"] as const) {
    scope[method](/.*/).reply(function (uri, body) {
      const text = typeof body === "string" ? body : body ? JSON.stringify(body) : "";
      const token = this.req.headers["private-token"];
      const authorization = this.req.headers.authorization;
      const [status, payload, headers] = fake.respond(method.toUpperCase(), uri, text, Array.isArray(token) ? token[0] : token, Array.isArray(authorization) ? authorization[0] : authorization);
      return [status, payload === undefined ? "" : (payload as nock.Body), headers ?? {}];
    });
  }
  return scope;
}
