/**
 * Which browser pages may talk to this server. A browser sends its cookies and reaches
 * localhost on behalf of any page the developer visits, so without API keys the server is only as
 * safe as these checks:
 *
 * - `Origin` (sent by browsers on cross-origin requests, POSTs and WebSockets) must be this
 *   server's own origin or one of `allowedOrigins`; anything else is refused before it runs.
 * - Without API keys, the `Host` must be a loopback name (or one of `allowedHosts`, or the
 *   address the server listens on): a page on evil.example whose DNS name was rebound to
 *   127.0.0.1 arrives with `Host: evil.example` and is refused.
 * - Cross-origin reads (CORS) are granted to `allowedOrigins` only, never with credentials.
 *
 * Requests without `Origin` (curl, servers, the SDK in Node) are not browsers acting for a page.
 */

export interface OriginPolicyOptions {
  /** Origins (`https://app.example.com`) whose pages may call the API; `*` allows any. */
  allowedOrigins?: readonly string[];
  /** Host names accepted without API keys besides loopback ones (e.g. a LAN name). */
  allowedHosts?: readonly string[];
  /** With API keys, requests must carry one, so any Host is fine. */
  keysConfigured: boolean;
  /** The address the server listens on: its own Host is accepted too (unless it is a wildcard). */
  listenHost?: string;
}

export class OriginPolicy {
  private readonly origins: Set<string>;
  private readonly anyOrigin: boolean;
  private readonly hosts: Set<string>;

  constructor(private readonly options: OriginPolicyOptions) {
    this.anyOrigin = options.allowedOrigins?.includes('*') ?? false;
    this.origins = new Set((options.allowedOrigins ?? []).filter((origin) => origin !== '*').map(normalizeOrigin));
    this.hosts = new Set((options.allowedHosts ?? []).map((host) => host.toLowerCase()));
    const listen = options.listenHost?.toLowerCase();
    if (listen && listen !== '0.0.0.0' && listen !== '::' && listen !== '[::]') this.hosts.add(listen.replace(/^\[(.*)\]$/, '$1'));
  }

  /** Why a request to `host` (the Host header, with port) is refused; undefined when it is fine. */
  refuseHost(host: string | null | undefined): string | undefined {
    if (this.options.keysConfigured) return undefined;
    const name = hostnameOf(host ?? '');
    if (name !== undefined && (isLoopbackName(name) || this.hosts.has(name))) return undefined;
    return `This server has no API keys, so it answers only requests addressed to localhost (this request was for "${host ?? ''}"). Configure API keys, or list the name in allowedHosts (--allowed-host, SENPUKI_ALLOWED_HOSTS).`;
  }

  /** Why a request from `origin` to `host` is refused; undefined when it is same-origin, allowed or not from a browser page. */
  refuseOrigin(origin: string | null | undefined, host: string | null | undefined): string | undefined {
    if (origin === null || origin === undefined || origin === '') return undefined;
    if (this.isSameOrigin(origin, host) || this.isAllowedCrossOrigin(origin)) return undefined;
    return `Requests from pages on ${origin} are refused: only this server's own pages and allowedOrigins may call it. Add the origin to allowedOrigins (--allowed-origin, SENPUKI_ALLOWED_ORIGINS).`;
  }

  /** True when pages on `origin` may read responses cross-origin (CORS). */
  isAllowedCrossOrigin(origin: string): boolean {
    return this.anyOrigin || this.origins.has(normalizeOrigin(origin));
  }

  private isSameOrigin(origin: string, host: string | null | undefined): boolean {
    try {
      // Scheme aside: behind a TLS-terminating proxy the page is https and the request arrives as http.
      return host !== null && host !== undefined && new URL(origin).host === host.toLowerCase();
    } catch {
      return false;
    }
  }
}

function normalizeOrigin(origin: string): string {
  try {
    return new URL(origin).origin;
  } catch {
    return origin.toLowerCase();
  }
}

/** The host name of a Host header (`[::1]:4000` → `::1`), lower case; undefined when malformed. */
function hostnameOf(host: string): string | undefined {
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::\d{1,5})?$/i.exec(host.trim());
  return (match?.[1] ?? match?.[2])?.toLowerCase();
}

/** Names that only ever reach this machine (lower case). */
export function isLoopbackName(name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost') || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name) || name === '::ffff:127.0.0.1';
}
