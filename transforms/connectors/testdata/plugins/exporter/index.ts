// An export connector written as PostHog export plugins are: onEvent posts
// the event with fetch; a 5xx asks for a retry with RetryError. The
// properties.mode of an event makes it fail on purpose.
import { RetryError as ScaffoldRetryError } from '@posthog/plugin-scaffold'

class OwnRetryError extends Error {
    constructor(message: string) {
        super(message)
        this.name = 'RetryError'
    }
}

export async function onEvent(event, { config }) {
    switch (event.properties.mode) {
        case 'retry':
            throw new RetryError('the target is busy')
        case 'scaffold-retry':
            throw new ScaffoldRetryError('busy, from the scaffold')
        case 'own-retry':
            throw new OwnRetryError('busy, own class')
        case 'error':
            throw new Error('cannot export this event')
        case 'reject':
            return Promise.reject(new TypeError('rejected export'))
        case 'hang':
            while (true) {}
    }
    const res = await fetch(config.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ uuid: event.uuid, n: event.properties.n, event: event.event, timestamp: event.timestamp }),
    })
    if (res.status >= 500) {
        throw new RetryError(`receiver answered ${res.status}`)
    }
    if (!res.ok) {
        throw new Error(`receiver answered ${res.status}`)
    }
}
