// Returns whatever properties.mode asks for: a falsy value discards.
export function processEvent(event) {
    switch (event.properties.mode) {
        case 'null': return null
        case 'undefined': return undefined
        case 'false': return false
        case 'nothing': return
        case 'zero': return 0
    }
    return event
}
