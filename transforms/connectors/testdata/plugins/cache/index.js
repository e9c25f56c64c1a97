// Exercises meta.cache; the operation is chosen by properties.op.
export async function processEvent(event, { cache }) {
    const p = event.properties
    switch (p.op) {
        case 'set':
            await cache.set(p.key, p.value, p.ttl)
            break
        case 'set-raw':
            await cache.set(p.key, p.value, p.ttl, { jsonSerialize: false })
            break
        case 'get':
            p.result = await cache.get(p.key, 'default')
            break
        case 'get-raw':
            p.result = await cache.get(p.key, 'default', { jsonSerialize: false })
            break
        case 'incr':
            p.result = await cache.incr(p.key)
            break
        case 'expire':
            p.result = await cache.expire(p.key, p.ttl)
            break
        case 'lists':
            await cache.lpush(p.key, ['a', 'b'])
            await cache.lpush(p.key, 'c')
            await cache.rpush(p.key, 'z')
            const all = await cache.lrange(p.key, 0, -1)
            const len = await cache.llen(p.key)
            const removed = await cache.lrem(p.key, 1, 'b')
            const popped = await cache.lpop(p.key, 2)
            p.result = { all, len, removed, popped, rest: await cache.lrange(p.key, 0, -1) }
            break
        case 'errors': {
            // Each failing call rejects with a catchable error.
            const msgs = []
            const attempt = async (f) => {
                try {
                    await f()
                    msgs.push('ok')
                } catch (e) {
                    msgs.push(e.message)
                }
            }
            await cache.set(p.key, 'text')
            await attempt(() => cache.lpush(p.key, 'x'))
            await attempt(() => cache.incr(p.key))
            await attempt(() => cache.rpush(p.key + ':list', new Array(1001).fill('a')))
            await attempt(() => cache.rpush(p.key + ':list', ['a', 'b']))
            await attempt(() => cache.lpop(p.key + ':list', -1))
            p.result = msgs
            break
        }
    }
    return event
}
