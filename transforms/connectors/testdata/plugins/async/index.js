// async/await and explicit Promise chains, as plugins write them.
async function lookup(cache, key) {
    await cache.set(key, { hits: 1 }, 60)
    return await cache.get(key, null)
}

export async function processEvent(event, { cache }) {
    const v = await lookup(cache, 'k:' + event.distinct_id)
    event.properties.async_hits = v.hits
    if (event.properties.reject) {
        return Promise.reject(new Error('rejected on purpose'))
    }
    return new Promise((resolve) => resolve(event)).then((e) => {
        e.properties.then_ran = true
        return e
    })
}
