// Marks the event on a deep copy made with the JSON round trip.
export function processEvent(event) {
  const copy = JSON.parse(JSON.stringify(event))
  copy.properties.copied = true
  return copy
}
