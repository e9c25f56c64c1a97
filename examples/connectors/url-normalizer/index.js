// Normalises URL properties so that "https://Example.com/Pricing/?a=1#top"
// and "https://example.com/Pricing" count as the same page.
const { URL } = require('url')

const URL_PROPERTIES = ['$current_url', '$referrer', '$initial_current_url']

function normalize(raw, config) {
    let url
    try {
        url = new URL(raw)
    } catch (e) {
        return raw
    }
    if (config.strip_query === 'Yes') url.search = ''
    if (config.strip_hash === 'Yes') url.hash = ''
    let out = url.toString()
    if (url.pathname !== '/' && url.pathname.endsWith('/')) {
        out = out.replace(url.pathname, url.pathname.replace(/\/+$/, ''))
    } else if (url.pathname === '/' && !url.search && !url.hash) {
        out = out.replace(/\/$/, '')
    }
    return out
}

module.exports = {
    processEvent(event, { config }) {
        if (!event.properties) return event
        for (const key of URL_PROPERTIES) {
            const value = event.properties[key]
            if (typeof value === 'string' && value) {
                event.properties[key] = normalize(value, config)
            }
        }
        return event
    },
}
