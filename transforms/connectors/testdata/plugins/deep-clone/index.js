// The JSON round-trip deep clone many plugins use, plus Object.assign and
// Object.entries/fromEntries over the event and its properties.
export function processEvent(event) {
    const copy = JSON.parse(JSON.stringify(event))
    copy.properties.cloned = true
    copy.properties.assigned = Object.assign({}, event.properties, { extra: 1 })
    copy.properties.upper = Object.fromEntries(Object.entries(event.properties).map(([k, v]) => [k.toUpperCase(), v]))
    copy.properties.has_in = ['a' in event.properties, 'zz' in event.properties, event.properties.hasOwnProperty('a')]
    delete copy.properties.b
    return copy
}
