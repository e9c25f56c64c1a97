// onEvent runs after the chain with the ProcessedPluginEvent; it cannot change
// the event, its errors are only logged.
export async function onEvent(event, { storage }) {
    await storage.set('seen:' + event.uuid, [event.event, typeof event.timestamp, event.properties.n, event.$set ? event.$set.email : null])
    if (event.properties.n === 2) throw new Error('onEvent failure is only logged')
    event.properties.changed_in_on_event = true
}
