// Sums the properties' lengths with for…of over Object.entries and
// destructuring.
export function processEvent(event) {
  let n = 0
  for (const [key, value] of Object.entries(event.properties)) {
    n += key.length + (typeof value === 'string' ? value.length : 1)
  }
  event.properties.n = n
  return event
}
