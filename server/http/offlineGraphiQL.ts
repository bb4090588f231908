import type { GraphiQLOptions } from 'graphql-yoga';

/**
 * Renders GraphiQL with its scripts, styles and editor workers inline, from the
 * @graphql-yoga/render-graphiql package: the page works without reaching any CDN (Yoga's default
 * page loads its assets from one, and is blank offline). The 9 MB module is imported on the first
 * GraphiQL request, so servers that never show the page never load it.
 */
export async function renderOfflineGraphiQL(options: GraphiQLOptions): Promise<string> {
  const { renderGraphiQL } = await import('@graphql-yoga/render-graphiql');
  return renderGraphiQL(options);
}
