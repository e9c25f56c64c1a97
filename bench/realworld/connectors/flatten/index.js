// Flattens nested properties like PostHog's property flattener: every
// nested value becomes a top-level property named by its path.
function flatten(props, prefix, separator, out) {
  for (const [key, value] of Object.entries(props)) {
    const name = prefix ? `${prefix}${separator}${key}` : key
    if (value !== null && typeof value === 'object') {
      flatten(value, name, separator, out)
    } else if (prefix) {
      out[name] = value
    }
  }
  return out
}

export function processEvent(event, { config }) {
  if (event.event === '$autocapture' || !event.properties) {
    return event
  }
  const flat = flatten(event.properties, '', config.separator || '__', {})
  event.properties = { ...event.properties, ...flat }
  if (event.properties.$set) {
    event.properties.$set = { ...event.properties.$set, ...flatten(event.properties.$set, '', config.separator || '__', {}) }
  }
  return event
}
