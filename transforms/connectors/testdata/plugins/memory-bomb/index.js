// Allocates without bound when the event asks: properties.bomb = "string"
// doubles a string forever, "array" grows an array forever.
export function processEvent(event) {
    if (event.properties.bomb === 'string') {
        let s = 'x'
        while (true) s += s
    }
    if (event.properties.bomb === 'array') {
        const a = []
        while (true) a.push({ n: a.length, s: 'some text ' + a.length })
    }
    event.properties.survived = true
    return event
}
