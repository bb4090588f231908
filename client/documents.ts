/**
 * Every operation the SDK sends. Fragments keep one shape per type, so an execution from a query,
 * a mutation and a subscription is the same TypeScript type.
 */
import { graphql } from './graphql.js';

/** The fields of an execution that the SDK reads (everything but its tasks). */
export const ExecutionFields = graphql(`
  fragment ExecutionFields on Execution @_unmask {
    id
    function
    args
    state
    terminal
    result
    error { name message data }
    queue
    tags
    priority
    idempotencyKey
    progress { done total message }
    customState
    counters
    createdAt
    startedAt
    finishedAt
    deadlineAt
    version
    changeSeq
    waitingReason
  }
`);

/** The fields of a task; `parentId` lets a flat list be rebuilt into the call tree. */
export const TaskFields = graphql(`
  fragment TaskFields on Task @_unmask {
    id
    executionId
    parentId
    callKey
    kind
    function
    args
    state
    terminal
    result
    error { name message data }
    attempt
    maxAttempts
    runs { attempt startedAt finishedAt outcome worker error { name message } }
    queue
    tags
    priority
    scheduledFor
    createdAt
    startedAt
    finishedAt
    version
    changeSeq
  }
`);

export const DispatchMutation = graphql(
  `
  mutation Dispatch($input: DispatchInput!) {
    dispatch(input: $input) {
      created
      token
      tokenExpiresAt
      execution { ...ExecutionFields }
    }
  }
`,
  [ExecutionFields],
);

export const DispatchManyMutation = graphql(
  `
  mutation DispatchMany($items: [DispatchInput!]!) {
    dispatchMany(items: $items) {
      items {
        created
        token
        tokenExpiresAt
        execution { ...ExecutionFields }
      }
    }
  }
`,
  [ExecutionFields],
);

export const CancelExecutionMutation = graphql(
  `
  mutation CancelExecution($id: ID!) {
    cancelExecution(id: $id) { execution { ...ExecutionFields } }
  }
`,
  [ExecutionFields],
);

export const ExecutionQuery = graphql(
  `
  query Execution($id: ID!) {
    execution(id: $id) { ...ExecutionFields }
  }
`,
  [ExecutionFields],
);

export const ExecutionsQuery = graphql(
  `
  query Executions($filter: ExecutionFilter, $first: Int, $after: String) {
    executions(filter: $filter, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { ...ExecutionFields }
    }
  }
`,
  [ExecutionFields],
);

export const ExecutionTasksQuery = graphql(
  `
  query ExecutionTasks($id: ID!) {
    execution(id: $id) {
      id
      tasks { ...TaskFields }
    }
  }
`,
  [TaskFields],
);

export const TaskQuery = graphql(
  `
  query Task($id: ID!) {
    task(id: $id) { ...TaskFields }
  }
`,
  [TaskFields],
);

export const FunctionsQuery = graphql(`
  query Functions {
    functions {
      name
      description
      queue
      priority
      tags
      retry { maxAttempts initialDelayMs backoffFactor maxDelayMs jitter retryOn }
    }
  }
`);

export const ExecutionUpdatedSubscription = graphql(
  `
  subscription ExecutionUpdated($id: ID!, $since: Int) {
    executionUpdated(id: $id, since: $since) { ...ExecutionFields }
  }
`,
  [ExecutionFields],
);

export const TaskUpdatedSubscription = graphql(
  `
  subscription TaskUpdated($id: ID!, $since: Int) {
    taskUpdated(id: $id, since: $since) { ...TaskFields }
  }
`,
  [TaskFields],
);

/** Every task of an execution, then each task change (task changes do not bump the execution's version). */
export const ExecutionTasksUpdatedSubscription = graphql(
  `
  subscription ExecutionTasksUpdated($executionId: ID!, $since: String) {
    executionTasksUpdated(executionId: $executionId, since: $since) { ...TaskFields }
  }
`,
  [TaskFields],
);

/** The latest change sequence position: where a list subscription starts so that a drop before its first event loses nothing. */
export const ChangeCursorQuery = graphql(`
  query ChangeCursor {
    changeCursor
  }
`);

export const ExecutionsUpdatedSubscription = graphql(
  `
  subscription ExecutionsUpdated($filter: ExecutionFilter, $since: String) {
    executionsUpdated(filter: $filter, since: $since) { ...ExecutionFields }
  }
`,
  [ExecutionFields],
);

export const SendSignalMutation = graphql(
  `
  mutation SendSignal($input: SendSignalInput!) {
    sendSignal(input: $input) {
      signalId
      delivered
      deliveredToTaskId
      execution { ...ExecutionFields }
    }
  }
`,
  [ExecutionFields],
);

/** The fields of a dead letter (a task that failed for good). */
export const DeadLetterFields = graphql(`
  fragment DeadLetterFields on DeadLetter @_unmask {
    id
    executionId
    taskId
    function
    args
    attempts
    error { name message data }
    createdAt
  }
`);

export const DeadLettersQuery = graphql(
  `
  query DeadLetters($filter: DeadLetterFilter, $first: Int, $after: String) {
    deadLetters(filter: $filter, first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { ...DeadLetterFields }
    }
  }
`,
  [DeadLetterFields],
);

export const ReplayDeadLetterMutation = graphql(
  `
  mutation ReplayDeadLetter($id: ID!) {
    replayDeadLetter(id: $id) { execution { ...ExecutionFields } }
  }
`,
  [ExecutionFields],
);

export const DiscardDeadLetterMutation = graphql(`
  mutation DiscardDeadLetter($id: ID!) {
    discardDeadLetter(id: $id) { id }
  }
`);

/** The chunks of a stream after `after` (the backlog, then live); the last event has `closed: true`. */
export const ExecutionStreamSubscription = graphql(`
  subscription ExecutionStream($executionId: ID!, $name: String!, $after: Int) {
    executionStream(executionId: $executionId, name: $name, after: $after) {
      closed
      chunks { seq run data }
    }
  }
`);

/** The streams of an execution: names, lengths, whether closed. */
export const ExecutionStreamsQuery = graphql(`
  query ExecutionStreams($id: ID!) {
    execution(id: $id) {
      id
      streams { name taskId length run closed createdAt }
    }
  }
`);

/** The fields of a worker, as it records itself. */
export const WorkerFields = graphql(`
  fragment WorkerFields on Worker @_unmask {
    id
    host
    pid
    queues
    tags
    functions
    concurrency
    running
    suspended
    startedAt
    lastSeenAt
  }
`);

export const WorkersQuery = graphql(
  `
  query Workers {
    workers { ...WorkerFields }
  }
`,
  [WorkerFields],
);

export const WorkersUpdatedSubscription = graphql(
  `
  subscription WorkersUpdated {
    workersUpdated { ...WorkerFields }
  }
`,
  [WorkerFields],
);
