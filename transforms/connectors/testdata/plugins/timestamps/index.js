// Records how the event's timestamp looks to a plugin, and what Date
// composeWebhook gets for it.
export function processEvent(event) {
    event.properties.ts_type = typeof event.timestamp
    event.properties.has_ts = 'timestamp' in event
    event.properties.offset_seen = event.offset === undefined ? null : event.offset
    if (typeof event.timestamp === 'number') {
        event.properties.ts_iso = new Date(event.timestamp).toISOString()
    }
    if (event.properties.set_number) {
        event.timestamp = 1700000000000
    }
    return event
}

export function composeWebhook(event, { config }) {
    return {
        url: config.url,
        body: JSON.stringify({ is_date: event.timestamp instanceof Date, valid: !isNaN(event.timestamp.getTime()), timestamp: event.timestamp }),
    }
}
