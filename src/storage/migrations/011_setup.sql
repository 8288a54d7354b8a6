-- First run: forge credentials stored by the setup page (issue 17), and setup flows in progress.

-- One row per forge registered through the setup page. `details` is what pages may show (host,
-- app id and slug, client id, the bot user); `sealed` holds the secrets (private key, webhook
-- secret, client secret, token) as AES-256-GCM under a key derived from SESSION_LINK_SECRET,
-- bound to the row's forge. `key_id` names that key (a fingerprint, not the key), so a process
-- with another secret says so instead of failing to decrypt. Every save bumps `version`: the
-- other processes rebuild the forge when they see it change.
CREATE TABLE forge_credentials (
  forge       text        PRIMARY KEY CHECK (forge IN ('github', 'gitlab')),
  details     jsonb       NOT NULL,
  sealed      bytea       NOT NULL,
  key_id      text        NOT NULL,
  version     bigint      NOT NULL DEFAULT 1,
  stored_by   text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A setup flow in progress (the GitHub App manifest flow): the state's hash, bound to the browser
-- that started it by the hash of a short-lived cookie, whether an operator started it, and what
-- it registers. Taken once by the callback; rows past expires_at count as gone.
CREATE TABLE setup_states (
  state_hash    text        PRIMARY KEY,
  browser_hash  text        NOT NULL,
  forge         text        NOT NULL,
  by_operator   boolean     NOT NULL,
  target        jsonb       NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL
);
CREATE INDEX setup_states_expiry ON setup_states (expires_at);
