// Marks the event it was given.
export function processEvent(event) {
  event.properties.copied = true
  return event
}
