import { createHash } from 'crypto'
// Plugins observe key order: Object.keys, for-in and JSON.stringify.
export function processEvent(event) {
    const forIn = []
    for (const k in event.properties) forIn.push(k)
    event.properties.keys = Object.keys(event.properties).join(',')
    event.properties.for_in = forIn.join(',')
    event.properties.hash = createHash('sha1').update(JSON.stringify(event.properties)).digest('hex')
    event.properties.top_keys = Object.keys(event).join(',')
    return event
}
