// The example functions `npm start` registers (see orders.ts and story.ts).
import { exampleArgs as orderArgs } from './orders.js';
import { exampleArgs as storyArgs } from './story.js';

export * from './orders.js';
export * from './story.js';
/** Both modules' example arguments (a local export takes precedence over the two `export *`). */
export const exampleArgs: Record<string, unknown[]> = { ...orderArgs, ...storyArgs };
