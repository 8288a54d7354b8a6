-- The reaper's second pass scans sessions that ended within the last day for a started note
-- still up or a reply never posted; this keeps that scan off the whole table.
CREATE INDEX IF NOT EXISTS sessions_recently_ended ON sessions (finished_at)
  WHERE status IN ('finished', 'failed', 'stopped');
