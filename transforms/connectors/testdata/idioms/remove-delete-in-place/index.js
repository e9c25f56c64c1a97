// Removes the same two properties from the event it was given.
export function processEvent(event) {
  delete event.properties.email
  delete event.properties.name
  return event
}
