// composeWebhook sees the PostHogEvent shape: timestamp is a Date, $set is in
// properties. No headers -> the host adds the JSON content type.
export function composeWebhook(event, { config }) {
    if (event.event === 'skip') return null
    return {
        url: config.url,
        body: JSON.stringify({
            is_date: event.timestamp instanceof Date,
            event,
        }),
        ...(event.event === 'custom' ? { method: 'PUT', headers: { 'X-Custom': '1' } } : {}),
    }
}
