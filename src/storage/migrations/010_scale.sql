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

-- One review of a change request is posted at a time: a lease per thread, like the sessions'
-- (a holder renews it while it waits for a write slot; a crashed holder's lease runs out).
CREATE TABLE change_request_leases (
  conversation_key  text        PRIMARY KEY,
  lease_token       text        NOT NULL,
  lease_until       timestamptz NOT NULL
);
