// Renames like PostHog's taxonomy plugin: the event name and every custom
// property key (not the $-prefixed PostHog ones) into one convention.
const skipped = new Set(['$pageview', '$pageleave', '$autocapture', '$identify', '$set', '$groupidentify'])

function words(name) {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .replace(/[_\-.\s]+/g, ' ')
    .trim()
    .toLowerCase()
    .split(' ')
}

const transforms = {
  camelCase: (w) => w.map((x, i) => (i ? x.charAt(0).toUpperCase() + x.slice(1) : x)).join(''),
  PascalCase: (w) => w.map((x) => x.charAt(0).toUpperCase() + x.slice(1)).join(''),
  snake_case: (w) => w.join('_'),
  'kebab-case': (w) => w.join('-'),
  'spaces in between': (w) => w.join(' '),
}

export function processEvent(event, { config }) {
  const convert = transforms[config.defaultNamingConvention] || transforms.snake_case
  if (!skipped.has(event.event) && !event.event.startsWith('$')) {
    event.event = convert(words(event.event))
  }
  const props = {}
  for (const key of Object.keys(event.properties || {})) {
    props[key.startsWith('$') ? key : convert(words(key))] = event.properties[key]
  }
  event.properties = props
  return event
}
