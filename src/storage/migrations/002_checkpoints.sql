-- Agent checkpoints: each row is one step's delta on a chain (seq, parent_seq). The kind and
-- run make the chain readable in SQL and on the session page without parsing the delta.
ALTER TABLE checkpoints ADD COLUMN kind text NOT NULL DEFAULT 'step'
  CHECK (kind IN ('start', 'step', 'input', 'interrupted'));
ALTER TABLE checkpoints ADD COLUMN run integer NOT NULL DEFAULT 1;
ALTER TABLE checkpoints ADD CONSTRAINT checkpoints_chain
  CHECK (seq > 0 AND (parent_seq IS NULL OR (parent_seq >= 0 AND parent_seq < seq)));
