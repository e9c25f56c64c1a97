// Drives a hogtail http source with the real posthog-node client.
// Usage: node posthog-node-driver.js <host> <api key> <events>
const { PostHog } = require('posthog-node');

async function main() {
  const [host, key, n] = process.argv.slice(2);
  const client = new PostHog(key, { host, flushAt: 100, flushInterval: 0, fetchRetryCount: 0 });
  let failed = 0;
  client.on('error', (err) => { failed++; console.error('posthog-node error:', err && err.message); });
  for (let i = 0; i < Number(n); i++) {
    client.capture({ distinctId: 'user-' + (i % 7), event: 'node event', properties: { i, nested: { ok: true } } });
  }
  client.identify({ distinctId: 'user-1', properties: { email: 'ada@example.com' } });
  await client.shutdown();
  if (failed) process.exit(2);
}

main().catch((err) => { console.error(err); process.exit(1); });
