/**
 * Serves the dashboard (client/dashboard/) at `/`: one HTML page, and a JS + CSS bundle kept in
 * memory: the one the package build shipped, or in a source checkout one that esbuild builds from
 * the TypeScript source the first time it is needed (see dashboardBundle.ts).
 */
import { createHash } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';
import { loadDashboard } from './dashboardBundle.js';

export { DEFAULT_DASHBOARD_ENTRY } from './dashboardBundle.js';
/** Where the bundle's files are served (the page itself is at `/`). */
export const DASHBOARD_ASSET_PREFIX = '/dashboard/';

/** Options of `useDashboard`. */
export interface DashboardOptions {
  /** Path of the GraphQL endpoint the page talks to. Default /graphql. */
  graphqlPath?: string;
  /** Arguments to pre-fill the dispatch form with, by function name. */
  exampleArgs?: Record<string, unknown[]>;
  /** Load the bundle at once instead of on the first request (the first page load is then instant). Default true. */
  warm?: boolean;
  /** An entry module to bundle instead of the shipped dashboard (tests, forks; needs esbuild). */
  entry?: string;
  logger?: Logger;
}

interface Asset {
  body: string;
  contentType: string;
  etag: string;
}

type Bundle = Map<string, Asset>;

/** The page's config travels in a meta tag: no inline script, so the CSP can forbid them. */
export const DASHBOARD_CONFIG_META = 'senpuki-dashboard-config';

const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self' ws: wss:",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const FAVICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='3' fill='%232f6feb'/%3E%3Cpath d='M4 8a4 4 0 0 1 8 0' stroke='white' stroke-width='2' fill='none'/%3E%3Ccircle cx='8' cy='10' r='1.6' fill='white'/%3E%3C/svg%3E";

function escapeAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function page(config: { graphqlPath: string; exampleArgs: Record<string, unknown[]> }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="${DASHBOARD_CONFIG_META}" content="${escapeAttribute(JSON.stringify(config))}">
<title>Senpuki</title>
<link rel="icon" href="${FAVICON}">
<link rel="stylesheet" href="${DASHBOARD_ASSET_PREFIX}app.css">
<script type="module" src="${DASHBOARD_ASSET_PREFIX}app.js"></script>
</head>
<body><div id="app"><p class="boot">Loading the dashboard…</p></div></body>
</html>
`;
}

function asset(body: string, contentType: string): Asset {
  return { body, contentType, etag: `"${createHash('sha1').update(body).digest('base64url')}"` };
}

/** The dashboard's files by URL path. */
async function buildBundle(entry: string | undefined): Promise<Bundle> {
  const bundle: Bundle = new Map();
  for (const file of await loadDashboard(entry)) {
    bundle.set(`${DASHBOARD_ASSET_PREFIX}${file.name}`, asset(file.text, file.name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8'));
  }
  return bundle;
}

/**
 * A Yoga plugin serving the dashboard at `/` (GraphQL stays at its own path). The bundle is loaded
 * (or built) once per process and cached in memory; a failure is reported on the page and retried
 * on the next request.
 */
export function useDashboard(options: DashboardOptions = {}): Plugin {
  const entry = options.entry;
  const html = asset(page({ graphqlPath: options.graphqlPath ?? '/graphql', exampleArgs: options.exampleArgs ?? {} }), 'text/html; charset=utf-8');
  let bundle: Promise<Bundle> | undefined;
  const getBundle = () => {
    bundle ??= buildBundle(entry).catch((error: unknown) => {
      bundle = undefined;
      throw error;
    });
    return bundle;
  };
  if (options.warm ?? true) getBundle().catch((error: unknown) => options.logger?.error({ err: error }, 'building the dashboard failed'));

  return {
    async onRequest({ request, url, fetchAPI, endResponse }) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return;
      const path = url.pathname;
      let found: Asset | undefined;
      if (path === '/' || path === '/index.html') found = html;
      else if (path.startsWith(DASHBOARD_ASSET_PREFIX)) {
        try {
          found = (await getBundle()).get(path);
        } catch (error) {
          options.logger?.error({ err: error }, 'building the dashboard failed');
          endResponse(new fetchAPI.Response(`The dashboard could not be built: ${(error as Error).message}`, { status: 500, headers: { 'content-type': 'text/plain; charset=utf-8' } }));
          return;
        }
        if (!found) {
          endResponse(new fetchAPI.Response('Not found', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } }));
          return;
        }
      } else return;
      const headers = {
        'content-type': found.contentType,
        etag: found.etag,
        // Revalidated on every load (a 304 is cheap), so a restarted server never serves a stale page.
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        ...(found === html ? { 'content-security-policy': CONTENT_SECURITY_POLICY, 'referrer-policy': 'no-referrer' } : {}),
      };
      if (request.headers.get('if-none-match') === found.etag) {
        endResponse(new fetchAPI.Response(null, { status: 304, headers }));
        return;
      }
      endResponse(new fetchAPI.Response(request.method === 'HEAD' ? null : found.body, { status: 200, headers }));
    },
  };
}
