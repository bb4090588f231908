import type { ExecutionRecord, TaskRecord } from '../domain/types.js';
import type { SchemaContext } from './builder.js';

/** The tasks of one execution, indexed for `Task.parent` / `Task.children`. */
interface TaskTree {
  list: TaskRecord[];
  byId: Map<string, TaskRecord>;
  children: Map<string, TaskRecord[]>;
}

// Rows are fresh objects on every read, so a tree hangs off the very rows it was built from:
// one subscription event never sees the tree of an earlier one, and a tree of 1,000 tasks costs
// one query however deep the client's selection goes.
const treeOfTask = new WeakMap<TaskRecord, TaskTree>();
const treeOfExecution = new WeakMap<ExecutionRecord, Promise<TaskTree>>();

function index(list: TaskRecord[]): TaskTree {
  const tree: TaskTree = { list, byId: new Map(), children: new Map() };
  for (const task of list) {
    tree.byId.set(task.id, task);
    treeOfTask.set(task, tree);
    if (task.parentTaskId === undefined) continue;
    const siblings = tree.children.get(task.parentTaskId);
    if (siblings) siblings.push(task);
    else tree.children.set(task.parentTaskId, [task]);
  }
  return tree;
}

function load(ctx: SchemaContext, executionId: string): Promise<TaskTree> {
  return ctx.senpuki.listTasks(executionId).then(index);
}

/** The execution's tasks (one query per execution row, shared by `tasks` and `rootTask`). */
export function treeOf(ctx: SchemaContext, execution: ExecutionRecord): Promise<TaskTree> {
  let tree = treeOfExecution.get(execution);
  if (!tree) treeOfExecution.set(execution, (tree = load(ctx, execution.id)));
  return tree;
}

/** Children of `task`, in call order. */
export async function childrenOf(ctx: SchemaContext, task: TaskRecord): Promise<TaskRecord[]> {
  const tree = treeOfTask.get(task) ?? (await load(ctx, task.executionId));
  return tree.children.get(task.id) ?? [];
}

/** The task that called `task`; null for the root. */
export async function parentOf(ctx: SchemaContext, task: TaskRecord): Promise<TaskRecord | null> {
  if (task.parentTaskId === undefined) return null;
  const known = treeOfTask.get(task)?.byId.get(task.parentTaskId);
  return known ?? (await ctx.senpuki.findTask(task.parentTaskId)) ?? null;
}
