const crypto = require('crypto')
const { URLSearchParams } = require('url')

module.exports = {
    processEvent(event) {
        const q = new URLSearchParams('a=1&b=two')
        event.properties.style = 'cjs'
        event.properties.b = q.get('b')
        event.properties.sha256 = crypto.createHash('sha256').update('hogtail').digest('base64')
        return event
    },
}
