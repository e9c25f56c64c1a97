// Runaway code of every loop kind; the host's Interrupt stops all of them.
function* forever() {
    let i = 0
    while (true) yield i++
}

export async function processEvent(event) {
    event.properties.touched = true
    switch (event.properties.loop) {
        case 'while':
            while (true) {}
        case 'for':
            for (;;) {}
        case 'do':
            do {} while (true)
        case 'for-of':
            for (const x of forever()) {}
        case 'for-in': {
            const o = { a: 1 }
            for (;;) for (const k in o) {}
        }
        case 'recursion-ish': {
            const arr = [1]
            arr.forEach(function f() { while (true) {} })
        }
        case 'after-await':
            await Promise.resolve()
            while (true) {}
    }
    return event
}
