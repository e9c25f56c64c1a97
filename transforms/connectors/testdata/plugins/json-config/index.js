export function processEvent(event, { config }) {
    event.properties.config_keys = Object.keys(config).join(',')
    event.properties.mapping_type = typeof config.mapping
    event.properties.mapping = config.mapping
    event.properties.percentage = config.percentage
    event.properties.percentage_type = typeof config.percentage
    event.properties.flag = config.flag
    return event
}
