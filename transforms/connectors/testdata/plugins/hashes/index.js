// Runs the crypto expression named by properties.expr and records what it
// gives (or the error it throws).
import { createHash, createHmac } from 'crypto'

const exprs = {
  chained: () => createHash('sha256').update('hog').update('tail').digest('hex'),
  interleaved: () => {
    const a = createHash('sha1')
    const b = createHash('md5')
    a.update('one')
    b.update('two')
    a.update('three')
    return a.digest('hex') + ',' + b.digest('base64')
  },
  hmac: () => createHmac('sha512', 'secret').update('payload').digest('base64url'),
  buffer: () => createHash('sha384').update(Buffer.from([1, 2, 3])).digest().toString('hex'),
  detached: () => {
    const h = createHash('sha256')
    const update = h.update
    update('x')
    return 'no error'
  },
  other_this: () => createHash('sha256').update.call({}, 'x'),
  extra: () => {
    const h = createHash('sha256')
    h.label = 'mine'
    return [h.label, Object.keys(h).join(','), typeof h.update, typeof h.nothing].join('|')
  },
}

export function processEvent(event) {
  try {
    event.properties.result = exprs[event.properties.expr]()
  } catch (e) {
    event.properties.error = `${e.name}: ${e.message}`
  }
  return event
}
