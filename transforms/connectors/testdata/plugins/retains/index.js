// Keeps references to earlier events and their properties in meta.global and
// writes through them later: that must never reach events already emitted.
export function processEvent(event, { global }) {
    if (global.last) {
        global.last.properties.tampered = true
        global.lastProps.tampered_props = true
        global.last.event = 'tampered'
        event.properties.previous_seq = global.last.properties.seq
        event.properties.kept_props = global.lastProps
    }
    global.last = event
    global.lastProps = event.properties
    if (event.properties.return_previous && global.prev) {
        return global.prev
    }
    global.prev = event
    return event
}
