// Only the deprecated processEventBatch: the host wraps it.
export async function processEventBatch(events) {
    return events.filter((e) => !e.properties.drop_in_batch).map((e) => ({ ...e, properties: { ...e.properties, batched: true } }))
}
