import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { forgebotOctokit } from "../../../../src/forges/github/app.js";

/**
 * The retry plugin's backoff starts afresh for every request: a failed request before (a 404 it
 * never retries, a 502 it did) must not make the next request's first retry wait 4 s instead of 1 s.
 */
let server: http.Server;
let baseUrl: string;
let failNext = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url!.startsWith("/missing")) {
      res.writeHead(404, { "content-type": "application/json" }).end('{"message":"Not Found"}');
    } else if (failNext > 0) {
      failNext--;
      res.writeHead(502).end("bad gateway");
    } else {
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("forgebot's Octokit", () => {
  it("computes each request's first retry delay from that request's own count", async () => {
    const Octokit = forgebotOctokit(5000);
    const octokit = new Octokit({ auth: "token", baseUrl, retry: { retryAfterBaseValue: 1 } }) as unknown as {
      request(route: string): Promise<unknown>;
      retry: { retryRequest(error: unknown, retries: number, retryAfter: number): unknown };
    };
    // What the plugin asks to wait before each retry, in units of retryAfterBaseValue.
    const waits: number[] = [];
    const retryRequest = octokit.retry.retryRequest.bind(octokit.retry);
    octokit.retry.retryRequest = (error, retries, retryAfter) => {
      waits.push(retryAfter);
      return retryRequest(error, retries, retryAfter);
    };

    await expect(octokit.request("GET /missing")).rejects.toMatchObject({ status: 404 });
    failNext = 2;
    await octokit.request("GET /first");
    failNext = 1;
    await octokit.request("GET /second");
    // 1, 4 for the request that failed twice; 1 again for the next one (it was 9 when shared).
    expect(waits).toEqual([1, 4, 1]);
  });
});
