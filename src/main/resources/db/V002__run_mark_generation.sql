-- Every resume and every transient halt bumps the generation and clears the mark; a run records
-- its mark only if the generation is the one it read at its start, so a node resumed (or
-- transiently halted) while a run was in flight is retried by the very next run.
ALTER TABLE run_mark ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
-- The tip of the last run that looked at every node, settled or not: the next run looks for
-- folders changed and changed back, and for rewritten history, in the commits since it.
ALTER TABLE run_mark ADD COLUMN last_tip TEXT;
