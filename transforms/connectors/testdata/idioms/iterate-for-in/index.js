// The same sum with for…in.
export function processEvent(event) {
  const props = event.properties
  let n = 0
  for (const key in props) {
    const value = props[key]
    n += key.length + (typeof value === 'string' ? value.length : 1)
  }
  props.n = n
  return event
}
