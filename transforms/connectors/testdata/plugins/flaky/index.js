// Fails as the event asks: properties.hang loops forever, properties.fail
// throws; any other event is marked as seen.
export function processEvent(event) {
    if (event.properties.hang) {
        while (true) {}
    }
    if (event.properties.fail) {
        throw new Error('asked to fail')
    }
    event.properties.seen = true
    return event
}
