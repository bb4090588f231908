-- Claims, due-time lookups and limited-function checks walk these in order and stop at the first
-- rows they can use, so their cost does not grow with the number of pending tasks.
-- Claims of a function with a concurrency limit: its best rows first, whatever their queue.
CREATE INDEX senpuki_tasks_claim_function ON senpuki_tasks (function_name, priority DESC, scheduled_for, id)
  WHERE state = 'pending';
-- An idle worker's "when is the next task of my queues due": the earliest row per queue.
CREATE INDEX senpuki_tasks_due ON senpuki_tasks (queue, scheduled_for) WHERE state = 'pending';
