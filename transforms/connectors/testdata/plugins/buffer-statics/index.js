// Node's Buffer.isBuffer and Buffer.byteLength (expected values taken from
// Node 20: true, false, 6, 6, 3).
export function processEvent(e) {
  const b = Buffer.from('héllo')
  e.properties.r = { isb: Buffer.isBuffer(b), isnot: Buffer.isBuffer('x'), bl: Buffer.byteLength('héllo'), blb: Buffer.byteLength(b), u8: Buffer.byteLength(new Uint8Array(3)) }
  return e
}
