// exportEvents posts each batch as one JSON array; a 5xx asks for a retry.
export async function exportEvents(events, { config }) {
    if (events.some((e) => e.properties.mode === 'error')) {
        throw new Error(`batch of ${events.length} refused`)
    }
    const res = await fetch(config.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(events.map((e) => ({ uuid: e.uuid, n: e.properties.n }))),
    })
    if (res.status >= 500) {
        throw new RetryError(`receiver answered ${res.status}`)
    }
}

// onEvent is not called when exportEvents exists, as in PostHog.
export function onEvent() {
    throw new Error('onEvent must not run beside exportEvents')
}
