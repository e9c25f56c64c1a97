// Modelled on PostHog's property-filter plugin: removes the configured
// properties, with "a.b.c" reaching into nested objects. Works on a copy.
export function setupPlugin({ config, global }) {
    global.propertiesToFilter = config.properties
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean)
}

function removeNested(obj, parts) {
    if (!obj || typeof obj !== 'object') return obj
    const [head, ...rest] = parts
    if (!(head in obj)) return obj
    const copy = { ...obj }
    if (rest.length === 0) {
        delete copy[head]
    } else {
        copy[head] = removeNested(copy[head], rest)
    }
    return copy
}

export function processEvent(event, { global }) {
    let properties = event.properties ? { ...event.properties } : {}
    for (const filter of global.propertiesToFilter) {
        if (filter === '$ip') {
            delete event.ip
        }
        properties = removeNested(properties, filter.split('.'))
    }
    return { ...event, properties }
}
