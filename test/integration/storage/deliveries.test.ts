import { afterAll, beforeAll, describe, expect, it } from "@jest/globals";
import type { MentionEvent } from "../../../src/sessions/forge-port.js";
import type { NewDelivery } from "../../../src/sessions/ports.js";
import { createDeliveryStore } from "../../../src/storage/delivery-store.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/db.js";

/** Deliveries are group-committed: one statement records a batch, each delivery once. */
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database.drop();
});

function delivery(key: string): NewDelivery {
  const mention = { forge: "github", deliveryKey: key, body: `@forgebot ${key}` } as unknown as MentionEvent;
  return { forge: "github", deliveryKey: key, eventName: "issue_comment.created", mention };
}

describe("recordDeliveries", () => {
  it("records a batch in order, a repeat within it once, and a later repeat as a duplicate", async () => {
    const store = createDeliveryStore(database.db);
    const first = await store.recordDeliveries([delivery("a"), delivery("b"), delivery("a")]);
    expect(first.map((r) => [r.created, r.status])).toEqual([[true, "received"], [true, "received"], [false, "received"]]);
    expect(first[2]!.id).toBe(first[0]!.id);
    expect(first[1]!.id).toBeGreaterThan(first[0]!.id);
    const again = await store.recordDeliveries([delivery("b"), delivery("c")]);
    expect(again.map((r) => [r.id === first[1]!.id, r.created])).toEqual([[true, false], [false, true]]);
    const { rows } = await database.db.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_deliveries");
    expect(rows[0]!.n).toBe(3);
  });

  it("two batches racing on the same deliveries create each once", async () => {
    const store = createDeliveryStore(database.db);
    const keys = Array.from({ length: 30 }, (_, i) => `race-${i}`);
    const results = await Promise.all([0, 1, 2, 3].map(() => store.recordDeliveries(keys.map(delivery))));
    for (let i = 0; i < keys.length; i++) {
      const outcomes = results.map((r) => r[i]!);
      expect(outcomes.filter((o) => o.created)).toHaveLength(1);
      expect(new Set(outcomes.map((o) => o.id)).size).toBe(1);
    }
  });

  it("a single delivery (the plain-INSERT path) is created once; its repeats, alone or racing, get the same id", async () => {
    const store = createDeliveryStore(database.db);
    const [first] = await store.recordDeliveries([delivery("one")]);
    expect(first).toMatchObject({ created: true, status: "received" });
    await database.db.query("UPDATE webhook_deliveries SET status = 'processed' WHERE id = $1", [first!.id]);
    const [again] = await store.recordDeliveries([delivery("one")]);
    expect(again).toEqual({ id: first!.id, created: false, status: "processed" });
    const racing = await Promise.all(Array.from({ length: 8 }, () => store.recordDeliveries([delivery("one-race")])));
    expect(racing.filter(([r]) => r!.created)).toHaveLength(1);
    expect(new Set(racing.map(([r]) => r!.id)).size).toBe(1);
  });
});
