var leakedB = 'b'
export function processEvent(event, { global }) {
    event.properties.b_sees = [typeof leakedA, typeof sharedName, typeof ({}).polluted, String(global.owner)].join(',')
    return event
}
