// A counter in meta.storage, a cursor, and a teardown marker.
export async function setupPlugin({ utils }) {
    await utils.cursor.init('cursor', 100)
}

export async function processEvent(event, { storage, utils }) {
    const n = (await storage.get('count', 0)) + 1
    await storage.set('count', n)
    await storage.set('last', { uuid: event.uuid, n })
    await storage.set('gone', 1)
    await storage.del('gone')
    await storage.set('undef', 1)
    await storage.set('undef', undefined)
    event.properties.count = n
    event.properties.cursor = await utils.cursor.increment('cursor', 5)
    event.properties.gone = await storage.get('gone', 'deleted')
    event.properties.undef = await storage.get('undef', 'deleted')
    return event
}

export async function teardownPlugin({ storage }) {
    await storage.set('torn_down', true)
}
