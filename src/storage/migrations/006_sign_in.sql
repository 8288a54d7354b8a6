-- Sign-in through the forge (issue 13).
-- Each session keeps its repository's visibility from the webhook; rows from before are NULL
-- and treated as private. The check is NOT VALID: existing rows are all NULL, so there is
-- nothing to scan the table for while it is locked.
ALTER TABLE sessions ADD COLUMN visibility text;
ALTER TABLE sessions ADD CONSTRAINT sessions_visibility CHECK (visibility IN ('public', 'internal', 'private')) NOT VALID;
-- A parent's retries: the page lists them and the retry button finds the newest.
CREATE INDEX sessions_children ON sessions (parent_session_id, id) WHERE parent_session_id IS NOT NULL;

-- Signed-in browsers. The cookie holds a random id; only its SHA-256 is stored, so a copy of
-- this table signs nobody in. Rows past expires_at count as gone and are deleted lazily.
CREATE TABLE web_sessions (
  id_hash     text        PRIMARY KEY,
  forge       text        NOT NULL,
  host        text        NOT NULL,
  user_id     text        NOT NULL,
  login       text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

-- Sign-ins in progress: the OAuth state (hashed), bound to the browser that started it by the
-- hash of a short-lived cookie, with the PKCE verifier and where to return. Used once.
CREATE TABLE sign_in_states (
  state_hash     text        PRIMARY KEY,
  browser_hash   text        NOT NULL,
  forge          text        NOT NULL,
  code_verifier  text        NOT NULL,
  return_to      text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz NOT NULL
);
CREATE INDEX sign_in_states_expiry ON sign_in_states (expires_at);
