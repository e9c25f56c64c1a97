export async function processEvent(event) {
    await posthog.capture('derived_event', { source_uuid: event.uuid, distinct_id: 'derived-' + event.distinct_id })
    return event
}
export function runEveryMinute() {
    posthog.capture('heartbeat', { ok: true })
}
