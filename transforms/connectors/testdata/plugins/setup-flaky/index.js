// setupPlugin fails twice (counted in the shared cache), then succeeds.
export async function setupPlugin({ cache, global }) {
    const n = await cache.incr('setup_attempts')
    if (n < 3) {
        throw new Error('upstream not ready, attempt ' + n)
    }
    global.attempts = n
}

export function processEvent(event, { global }) {
    event.properties.setup_attempts = global.attempts
    return event
}
