-- An execution's task list subscription polls its tasks changed after a change sequence number.
CREATE INDEX senpuki_tasks_execution_change_seq ON senpuki_tasks (execution_id, change_seq);
