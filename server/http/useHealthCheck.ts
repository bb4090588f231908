import type { Plugin } from 'graphql-yoga';

/** How long the health check waits for the database. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 2000;

/**
 * `GET <path>`: 200 `{"status":"ok"}` when `check` resolves in time, 503 otherwise (load
 * balancers take the instance out of rotation while its database is unreachable).
 */
export function useHealthCheck(path: string, check: () => Promise<void>, timeoutMs = DEFAULT_HEALTH_TIMEOUT_MS): Plugin {
  return {
    async onRequest({ url, fetchAPI, endResponse }) {
      if (url.pathname !== path) return;
      let timer: NodeJS.Timeout | undefined;
      const healthy = await Promise.race([
        check().then(() => true, () => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
      ]);
      clearTimeout(timer);
      endResponse(
        new fetchAPI.Response(JSON.stringify(healthy ? { status: 'ok' } : { status: 'unavailable', reason: 'database unreachable' }), {
          status: healthy ? 200 : 503,
          headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
        }),
      );
    },
  };
}
