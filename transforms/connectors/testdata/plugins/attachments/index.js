export function setupPlugin({ attachments, global }) {
    global.countries = JSON.parse(attachments.countries.contents)
    global.meta = attachments.countries.file_name + ';' + attachments.countries.content_type
    global.hasNotes = attachments.notes !== undefined
    global.text = attachments.countries.contents.toString().length
}

export function processEvent(event, { global }) {
    event.properties.country = global.countries[event.properties.code] ?? null
    event.properties.attachment = global.meta
    event.properties.has_notes = global.hasNotes
    event.properties.text_length = global.text
    return event
}
