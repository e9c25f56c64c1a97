export function processEvent(event) {
    event.properties.processed_by = 'hogtail'
    return event
}
