// Hashes personal data like PostHog's PII hashing plugins, with Node's
// crypto module (a host module in PostHog and in hogtail).
import { createHash } from 'crypto'

export function setupPlugin({ config, global }) {
  global.keys = (config.properties || '').split(',').map((k) => k.trim()).filter(Boolean)
}

function hash(salt, value) {
  return createHash('sha256').update(salt + String(value)).digest('hex')
}

export function processEvent(event, { config, global }) {
  const props = event.properties || {}
  for (const key of global.keys) {
    if (props[key] !== undefined && props[key] !== null) {
      props[key] = hash(config.salt, props[key])
    }
    if (props.$set && props.$set[key] !== undefined) {
      props.$set[key] = hash(config.salt, props.$set[key])
    }
  }
  event.distinct_id = hash(config.salt, event.distinct_id)
  return event
}
