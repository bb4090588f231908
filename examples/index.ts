// The example functions `npm start` registers (see orders.ts).
export * from './orders.js';
