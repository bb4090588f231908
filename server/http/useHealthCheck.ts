import type { Plugin } from 'graphql-yoga';
import type { SenpukiHealth } from '../engine/health.js';

/**
 * `GET <path>`: the engine's health as JSON (`status`, the store's latency, the notification
 * backend, this process's workers). 200 while the store answers (`ok`, or `degraded` when
 * notifications are down or a worker drains: slower, still working); 503 when it does not, so
 * load balancers take the instance out of rotation.
 */
export function useHealthCheck(path: string, check: () => Promise<SenpukiHealth>): Plugin {
  return {
    async onRequest({ url, fetchAPI, endResponse }) {
      if (url.pathname !== path) return;
      const health = await check();
      endResponse(
        new fetchAPI.Response(JSON.stringify(health), {
          status: health.status === 'down' ? 503 : 200,
          headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
        }),
      );
    },
  };
}
