// One request per event; the body is a JSON object with the event's uuid,
// so the receiver can count each webhook's deliveries.
export function composeWebhook(event, { config }) {
    return {
        url: config.url,
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ uuid: event.uuid, event: 'hook' }),
    }
}
