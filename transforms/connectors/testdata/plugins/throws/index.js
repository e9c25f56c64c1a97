// Mutates the event in place, then throws: PostHog keeps the mutation and
// passes the event on.
export function processEvent(event) {
    event.properties.touched = true
    if (event.properties.fail) {
        throw new Error('boom: ' + event.properties.fail)
    }
    event.properties.after_throw_point = true
    return event
}
