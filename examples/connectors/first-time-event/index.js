// Inspired by PostHog's "First Time Event Tracker" app. meta.storage keeps
// what was seen across restarts; meta.cache keeps the hot path off storage.
export function setupPlugin({ config, global }) {
    global.events = new Set(
        config.events
            .split(',')
            .map((e) => e.trim())
            .filter(Boolean)
    )
    global.ttl = parseInt(config.cache_ttl_seconds) || 3600
}

export async function processEvent(event, { global, storage, cache }) {
    if (global.events.size > 0 && !global.events.has(event.event)) {
        return event
    }
    const everKey = `ever:${event.event}`
    const personKey = `person:${event.event}:${event.distinct_id}`

    let seenEver = await cache.get(everKey, null)
    if (seenEver === null) {
        seenEver = await storage.get(everKey, false)
    }
    let seenPerson = await cache.get(personKey, null)
    if (seenPerson === null) {
        seenPerson = await storage.get(personKey, false)
    }

    event.properties.is_first_event_ever = !seenEver
    event.properties.is_first_event_for_person = !seenPerson

    if (!seenEver) {
        await storage.set(everKey, true)
    }
    if (!seenPerson) {
        await storage.set(personKey, true)
    }
    await cache.set(everKey, true, global.ttl)
    await cache.set(personKey, true, global.ttl)
    return event
}
