-- Concurrency limits count a function's running tasks and look for its due ones at every claim.
CREATE INDEX senpuki_tasks_running_function ON senpuki_tasks (function_name) WHERE state = 'running';
CREATE INDEX senpuki_tasks_pending_function ON senpuki_tasks (function_name, scheduled_for) WHERE state = 'pending';

-- Retention removes finished executions oldest first, and keeps those with dead letters.
CREATE INDEX senpuki_executions_finished ON senpuki_executions (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX senpuki_dead_letters_execution ON senpuki_dead_letters (execution_id);

-- Execution timestamps at millisecond precision, what a JS Date holds: a keyset cursor built from
-- a row's createdAt then points exactly at that row (no row in the same millisecond is skipped).
ALTER TABLE senpuki_executions ALTER COLUMN created_at SET DEFAULT date_trunc('milliseconds', now());
