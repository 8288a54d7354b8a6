-- Per-session mutual exclusion without a connection per holder: a lease on the row. A holder
-- renews it while it works; a crashed holder's lease runs out after the job lock time.
ALTER TABLE sessions ADD COLUMN lease_token text;
ALTER TABLE sessions ADD COLUMN lease_until timestamptz;

-- Who this database is to the queue: BullMQ keys are namespaced by it, so a database that is
-- recreated (or restored and then detected as behind the queue) never meets the job ids an
-- older Redis remembers. One row.
CREATE TABLE installation (
  singleton        boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
  queue_namespace  text        NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  rotated_at       timestamptz
);
INSERT INTO installation (queue_namespace) VALUES (substr(replace(gen_random_uuid()::text, '-', ''), 1, 12));
