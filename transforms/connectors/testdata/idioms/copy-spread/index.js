// Marks the event on a spread copy of the event and its properties.
export function processEvent(event) {
  return { ...event, properties: { ...event.properties, copied: true } }
}
