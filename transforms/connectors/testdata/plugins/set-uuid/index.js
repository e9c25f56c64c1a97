// Sets a uuid the way the unduplicator plugin does, in place or through a
// returned copy.
export function processEvent(event) {
    const next = event.properties.next_uuid
    if (next === undefined) return event
    if (event.properties.copy) {
        return { ...event, uuid: next }
    }
    event.uuid = next
    return event
}
