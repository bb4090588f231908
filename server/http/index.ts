export { startServer } from './startServer.js';
export type { SenpukiServer } from './startServer.js';
export { createGraphQLApp } from './createApp.js';
export type { GraphQLApp, GraphQLAppConfig } from './createApp.js';
export { createEngine, type EngineConfig } from '../engine/createEngine.js';
export { serverConfigFromEnv } from './config.js';
export type { ServerConfig, ServerLimits } from './config.js';
export { useDashboard } from './useDashboard.js';
export type { DashboardOptions } from './useDashboard.js';
