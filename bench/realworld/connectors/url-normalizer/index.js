// Normalizes URLs like PostHog's URL normalizer plugin, with the WHATWG URL
// parser.
export function setupPlugin({ config, global }) {
  global.drop = new Set((config.dropParams || '').split(',').map((p) => p.trim()).filter(Boolean))
}

function normalize(raw, drop) {
  let url
  try {
    url = new URL(raw)
  } catch (e) {
    return raw
  }
  url.hostname = url.hostname.toLowerCase()
  url.hash = ''
  const kept = []
  url.searchParams.forEach((value, key) => {
    if (!drop.has(key)) kept.push([key, value])
  })
  kept.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  url.search = kept.length ? '?' + kept.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&') : ''
  let out = url.toString()
  if (url.pathname.length > 1 && out.endsWith('/')) {
    out = out.slice(0, -1)
  }
  return out.replace(/\/(\?|$)/, '$1')
}

export function processEvent(event, { global }) {
  const props = event.properties
  if (!props) return event
  if (typeof props.$current_url === 'string') {
    props.$current_url = normalize(props.$current_url, global.drop)
    props.$pathname = new URL(props.$current_url).pathname
  }
  if (typeof props.$referrer === 'string' && props.$referrer !== '$direct') {
    props.$referrer = normalize(props.$referrer, global.drop)
  }
  return event
}
