// onEvent gets the ProcessedPluginEvent from the export queue; it cannot
// change the event; a throw sends that event to dead letters.
export async function onEvent(event, { storage }) {
    await storage.set('seen:' + event.uuid, [event.event, typeof event.timestamp, event.properties.n, event.$set ? event.$set.email : null])
    if (event.properties.n === 2) throw new Error('onEvent failure goes to dead letters')
    event.properties.changed_in_on_event = true
}
