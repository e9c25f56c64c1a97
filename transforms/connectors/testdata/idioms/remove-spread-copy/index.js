// Removes two properties by returning a spread copy without them.
export function processEvent(event) {
  const { email, name, ...rest } = event.properties
  return { ...event, properties: rest }
}
