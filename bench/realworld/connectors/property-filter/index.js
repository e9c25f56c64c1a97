// Removes properties like PostHog's property filter plugin: the list is
// parsed once in setupPlugin; each event is copied before it is changed.
export function setupPlugin({ config, global }) {
  global.paths = (config.properties || '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => p.split('.'))
}

function removePath(obj, path) {
  if (!obj || typeof obj !== 'object') return obj
  const [head, ...rest] = path
  if (!(head in obj)) return obj
  const copy = Array.isArray(obj) ? [...obj] : { ...obj }
  if (rest.length === 0) {
    delete copy[head]
  } else {
    copy[head] = removePath(copy[head], rest)
  }
  return copy
}

export function processEvent(event, { global }) {
  let properties = { ...event.properties }
  for (const path of global.paths) {
    properties = removePath(properties, path)
  }
  const { $set, ...rest } = properties
  const result = { ...event, properties: $set ? { ...rest, $set } : rest }
  if (event.ip && global.paths.some((p) => p.length === 1 && p[0] === '$ip')) {
    delete result.ip
  }
  return result
}
