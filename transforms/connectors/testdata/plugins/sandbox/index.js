// What PostHog leaves out of the sandbox must be absent here too.
export function processEvent(event) {
    event.properties.globals = [typeof setTimeout, typeof setInterval, typeof process, typeof require, typeof fetch, typeof posthog, typeof URL, typeof Buffer, typeof RetryError].join(',')
    let err = ''
    try {
        const name = 'fs'
        require(name)
    } catch (e) {
        err = e.message
    }
    event.properties.require_fs = err
    return event
}
