// Drops (returns null for) events that do not follow the schema, and counts
// why in meta.cache so an operator can look at it from runEveryMinute.
export function setupPlugin({ config, global }) {
    global.required = config.required_properties
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean)
    global.pattern = new RegExp(config.event_pattern)
    global.types = config.types || {}
}

function violation(event, global) {
    if (!global.pattern.test(event.event)) return `event name "${event.event}"`
    const props = event.properties || {}
    for (const key of global.required) {
        if (props[key] === undefined || props[key] === null || props[key] === '') return `missing "${key}"`
    }
    for (const [key, type] of Object.entries(global.types)) {
        if (key in props) {
            const actual = Array.isArray(props[key]) ? 'array' : typeof props[key]
            if (actual !== type) return `"${key}" is ${actual}, not ${type}`
        }
    }
    return null
}

export async function processEvent(event, { global, cache }) {
    const why = violation(event, global)
    if (why) {
        await cache.incr('discarded')
        console.debug(`discarding ${event.uuid}: ${why}`)
        return null
    }
    return event
}

export async function runEveryMinute({ cache }) {
    const n = await cache.get('discarded', 0)
    if (n > 0) {
        console.warn(`schema-enforcer discarded ${n} events in the last minute`)
        await cache.set('discarded', 0)
    }
}
