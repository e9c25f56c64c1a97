export function processEvent(event) {
    console.log('processing', event.event, { n: 1 })
    console.warn('careful')
    console.error(new Error('not really'))
    console.debug('details', [1, 2])
    return event
}
