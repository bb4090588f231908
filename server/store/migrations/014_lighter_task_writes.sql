-- Every write of a task row (its dispatch, claim and completion) adds an entry to each of its
-- indexes (change_seq is indexed, so no update is HOT): two entries that nothing reads go.
--
-- A root task has no parent, and no lookup asks for a NULL parent: every lookup by parent
-- (`parent_task_id = …`, the foreign key's cascade) implies NOT NULL, so it still uses this one.
DROP INDEX senpuki_tasks_parent;
CREATE INDEX senpuki_tasks_parent ON senpuki_tasks (parent_task_id) WHERE parent_task_id IS NOT NULL;
-- An execution's tasks are found through (execution_id, change_seq) as well; the one reader that
-- wanted them by creation time (the task list, which reads all of them anyway) sorts them itself.
DROP INDEX senpuki_tasks_execution;
