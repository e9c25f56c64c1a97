// No export at all: PostHog falls back to top-level functions.
function helper() {
    return 'noexport'
}
function processEvent(event, meta) {
    event.properties.style = helper()
    event.properties.buf = Buffer.from('hi there').toString('base64')
    event.properties.hex = Buffer.from('6869', 'hex').toString('utf8')
    return event
}
