// Returns a spread copy with a new property and one removed.
export function processEvent(event) {
    const { remove_me, ...rest } = event.properties
    return {
        ...event,
        event: event.event + '_copied',
        properties: { ...rest, spread: true, nested: { list: [1, 'two', { three: 3 }], when: new Date(Date.UTC(2024, 0, 2)) } },
    }
}
