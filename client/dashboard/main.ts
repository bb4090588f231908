/**
 * The dashboard's entry: reads the config the server put in the page, creates one SDK client,
 * draws the shell (header, navigation, connection indicator, API key prompt) and mounts the view
 * the hash names. Served and bundled by server/http/useDashboard.ts.
 */
import './styles.css';
import { createSenpukiClient } from '../index.js';
import type { DurableFunction } from '../types.js';
import { ConnectionIndicator } from './connection.js';
import { errorCode, type DashboardConfig, type DashboardContext } from './context.js';
import { deadLettersPage } from './deadLettersPage.js';
import { h, type View } from './dom.js';
import { executionPage } from './executionPage.js';
import { executionsPage } from './executionsPage.js';
import { executionHref, parseRoute, rememberHash } from './router.js';
import { startTicker } from './ticker.js';
import { workersPage } from './workersPage.js';

const API_KEY_STORAGE_KEY = 'senpuki.apiKey';
const CONFIG_META = 'senpuki-dashboard-config';
const EXECUTION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Wait before re-opening the activity feed after it failed (e.g. a missing API key). */
const ACTIVITY_RETRY_MS = 5000;

function readConfig(): DashboardConfig {
  const content = document.querySelector<HTMLMetaElement>(`meta[name="${CONFIG_META}"]`)?.content;
  const parsed = content ? (JSON.parse(content) as Partial<DashboardConfig>) : {};
  return { graphqlPath: parsed.graphqlPath ?? '/graphql', exampleArgs: parsed.exampleArgs ?? {} };
}

function storedApiKey(): string | null {
  try {
    return localStorage.getItem(API_KEY_STORAGE_KEY);
  } catch {
    return null;
  }
}

function start(): void {
  const config = readConfig();
  const connection = new ConnectionIndicator();
  const client = createSenpukiClient({ url: config.graphqlPath, getToken: storedApiKey, webSocketImpl: connection.webSocketClass() });
  let functions: Promise<DurableFunction[]> | undefined;

  const keyInput = h('input', { type: 'password', name: 'apiKey', placeholder: 'API key', autocomplete: 'off' });
  const authBar = h(
    'form',
    { class: 'auth-bar', hidden: true, onsubmit: (event: SubmitEvent) => {
      event.preventDefault();
      localStorage.setItem(API_KEY_STORAGE_KEY, keyInput.value.trim());
      authBar.hidden = true;
      functions = undefined;
      mount();
    } },
    h('span', null, 'This server requires an API key (', h('code', null, 'SENPUKI_API_KEYS'), '). It is kept in this browser only.'),
    keyInput,
    h('button', { type: 'submit', class: 'primary small' }, 'Use key'),
  );

  const context: DashboardContext = {
    client,
    config,
    connection,
    functions() {
      functions ??= client.functions().catch((error: unknown) => {
        functions = undefined;
        throw error;
      });
      return functions;
    },
    onRequestError(error) {
      if (errorCode(error) === 'UNAUTHENTICATED') authBar.hidden = false;
    },
  };

  const navLinks = {
    executions: h('a', { href: '#/executions' }, 'Executions'),
    deadLetters: h('a', { href: '#/dead-letters' }, 'Dead letters'),
    workers: h('a', { href: '#/workers' }, 'Workers'),
  };
  // Paste an execution id (from a log line, an alert) to open it.
  const searchInput = h('input', { type: 'search', name: 'executionId', placeholder: 'Go to execution id…', class: 'mono', autocomplete: 'off', spellcheck: 'false' });
  const searchStatus = h('span', { class: 'search-status bad', 'aria-live': 'polite' });
  const search = h(
    'form',
    { class: 'search', role: 'search', onsubmit: (event: SubmitEvent) => {
      event.preventDefault();
      const id = searchInput.value.trim().toLowerCase();
      if (!EXECUTION_ID.test(id)) {
        searchStatus.textContent = 'An execution id looks like 3f2c8a9e-1b7d-4c3e-9a51-6d0e2f4b8c17';
        return;
      }
      searchStatus.textContent = '';
      searchInput.value = '';
      location.hash = executionHref(id);
    } },
    searchInput,
    searchStatus,
  );
  const view = h('main', { class: 'view' });
  const app = document.getElementById('app')!;
  app.replaceChildren(
    h(
      'header',
      { class: 'topbar' },
      h('a', { class: 'brand', href: '#/executions' }, h('span', { class: 'logo' }), 'Senpuki'),
      h('nav', null, navLinks.executions, navLinks.deadLetters, navLinks.workers, h('a', { href: config.graphqlPath, target: '_blank', rel: 'noopener' }, 'GraphiQL ↗')),
      h('span', { class: 'spacer' }),
      search,
      connection.element,
    ),
    authBar,
    view,
  );

  let current: View | undefined;
  function mount(): void {
    current?.dispose();
    const route = parseRoute(location.hash);
    rememberHash(location.hash);
    navLinks.executions.classList.toggle('active', route.page === 'executions' || route.page === 'execution');
    navLinks.deadLetters.classList.toggle('active', route.page === 'deadLetters');
    navLinks.workers.classList.toggle('active', route.page === 'workers');
    switch (route.page) {
      case 'execution':
        current = executionPage(context, route.id);
        document.title = `Execution ${route.id.slice(0, 8)} · Senpuki`;
        break;
      case 'deadLetters':
        current = deadLettersPage(context);
        document.title = 'Dead letters · Senpuki';
        break;
      case 'workers':
        current = workersPage(context);
        document.title = 'Workers · Senpuki';
        break;
      default:
        current = executionsPage(context, route.query);
        document.title = 'Executions · Senpuki';
    }
    view.replaceChildren(current.element);
    window.scrollTo(0, 0);
  }
  window.addEventListener('hashchange', mount);

  // One subscription that never ends keeps the socket (and so the indicator) honest, and pulses the dot on every change.
  void (async function activity(): Promise<void> {
    for (;;) {
      try {
        for await (const _change of client.executionsUpdates()) connection.pulse();
      } catch (error) {
        context.onRequestError(error);
      }
      await new Promise((resolve) => setTimeout(resolve, ACTIVITY_RETRY_MS));
    }
  })();

  startTicker(document);
  mount();
}

start();
