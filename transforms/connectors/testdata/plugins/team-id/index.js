// Tries to change team_id and uuid, in place and through a copy.
export function processEvent(event) {
    event.team_id = 999
    event.uuid = 'changed'
    if (event.properties.copy) {
        return { ...event, team_id: 12345, uuid: 'also-changed', properties: { ...event.properties, copied: true } }
    }
    return event
}
