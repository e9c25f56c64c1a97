import fetch from 'node-fetch'

export async function processEvent(event, { config }) {
    const res = await fetch(config.base + '/lookup?id=' + encodeURIComponent(event.distinct_id), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Plugin': 'fetcher' },
        body: JSON.stringify({ event: event.event }),
    })
    event.properties.status = res.status
    event.properties.ok = res.ok
    event.properties.header = res.headers.get('x-reply')
    event.properties.lookup = await res.json()
    // the global fetch is the same function
    event.properties.global_fetch = typeof fetch === typeof globalThis.fetch
    return event
}
