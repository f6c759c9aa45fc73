/**
 * Runs once when the Next.js server starts. On the Node.js runtime it loads the configuration
 * first, so a bad config.yaml stops start-up with a message naming each problem instead of
 * surfacing later as a stack trace in a request.
 */
export async function register() {
  if (process.env.NEXT_RUNTIME !== 'nodejs') return;
  const { startServer } = await import('./lib/server-start');
  await startServer();
}
