// composeWebhook gets the final event (timestamp is a Date, $set lives in
// properties) and returns the Slack request; hogtail persists and delivers it.
export function composeWebhook(event, { config }) {
    const events = config.events.split(',').map((e) => e.trim())
    if (!events.includes(event.event)) {
        return null
    }
    const who = event.properties?.$set?.email ?? event.distinct_id
    const lines = [`*${event.event}* by ${who} at ${event.timestamp.toISOString()}`]
    if (config.include_properties === 'Yes') {
        const shown = Object.entries(event.properties)
            .filter(([k]) => !k.startsWith('$'))
            .map(([k, v]) => `• ${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`)
        lines.push(...shown)
    }
    return {
        url: config.webhook_url,
        body: JSON.stringify({ text: lines.join('\n') }),
        headers: { 'Content-Type': 'application/json' },
        method: 'POST',
    }
}
