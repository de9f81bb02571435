-- Every resume and every transient halt bumps the generation and clears the mark; a run records
-- its mark only if the generation is the one it read at its start, so a node resumed (or
-- transiently halted) while a run was in flight is retried by the very next run.
ALTER TABLE run_mark ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
-- The tip of the last run that looked at every node, settled or not: the next run looks for
-- folders changed and changed back, and for rewritten history, in the commits since it.
ALTER TABLE run_mark ADD COLUMN last_tip TEXT;
-- This version reads an hour's next files (usage_YYYY-MM-DD-HH.N.toml), which earlier versions
-- passed over as ignored. Every node's folder is read whole once more on the next run (the
-- consumed-record index dedups what was consumed), so such a file committed before the upgrade
-- is consumed too, and not only once it changes.
UPDATE node SET tree_id = NULL;
UPDATE run_mark SET full_tip = NULL;
