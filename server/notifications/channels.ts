/**
 * Every channel name, in one place. The first two are the spec's (byte for byte, the Python
 * original's); the others are ours. Payloads: the spec's JSON on the spec's channels and on the
 * two list channels (same JSON, our states), stream hints (streamAnnouncer.ts), wake-ups (wakeUps.ts).
 */

/** The spec's: `{"task_id": "...", "state": "completed"}` for each change of the task. */
export const taskChannel = (taskId: string): string => `senpuki:task:${taskId}`;

/** The spec's: `{"execution_id": "...", "state": "..."}` for each change of the execution. */
export const executionChannel = (executionId: string): string => `senpuki:execution:${executionId}`;

/** Every execution change, for list subscriptions (dashboards). Same JSON as the execution channel. */
export const EXECUTIONS_CHANNEL = 'senpuki:executions';

/**
 * Every task change of one execution, for its task list subscription (progress bars, task trees),
 * which would otherwise need a channel per task. Same JSON as the task channel.
 */
export const executionTasksChannel = (executionId: string): string => `senpuki:execution-tasks:${executionId}`;

/**
 * Chunks of a stream of this execution were committed (or it was closed). One channel per
 * execution, not per stream: Postgres NOTIFY channel names hold at most 63 bytes, and a stream's
 * name alone may have 200.
 */
export const streamsChannel = (executionId: string): string => `senpuki:streams:${executionId}`;

/** Idle workers listen here to be woken by dispatches (see wakeUps.ts). */
export const WORKER_WAKE_CHANNEL = 'senpuki:workers:wake';
