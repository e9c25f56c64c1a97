// The same sum with Object.keys and an index loop.
export function processEvent(event) {
  const props = event.properties
  const keys = Object.keys(props)
  let n = 0
  for (let i = 0; i < keys.length; i++) {
    const value = props[keys[i]]
    n += keys[i].length + (typeof value === 'string' ? value.length : 1)
  }
  props.n = n
  return event
}
