import { createHash } from 'crypto'
import { suffix } from './lib/suffix.js'

export function processEvent(event) {
    event.properties.style = 'esm' + suffix
    event.properties.md5 = createHash('md5').update('hogtail').digest('hex')
    return event
}
