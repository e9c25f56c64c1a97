var leakedA = 'a'
globalThis.sharedName = 'from-a'
Object.prototype.polluted = 'a'
export function setupPlugin({ global }) {
    global.owner = 'a'
}
export function processEvent(event, { global }) {
    event.properties.a_sees = [typeof leakedB, global.owner].join(',')
    return event
}
