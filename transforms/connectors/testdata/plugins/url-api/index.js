// The URL and URLSearchParams calls real plugins make (expected values
// taken from Node 20).
export function processEvent(event) {
  const url = new URL(event.properties.url)
  event.properties.parsed = url.toString()
  const pairs = []
  url.searchParams.forEach((value, key, params) => pairs.push(`${key}=${value}:${params === url.searchParams}`))
  event.properties.for_each = pairs.join(',')
  url.search = '?b=2&a=1'
  event.properties.search_set = url.toString()
  url.search = 'c=3'
  event.properties.search_set_bare = url.search
  url.hash = '#top'
  event.properties.hash_set = url.hash
  event.properties.is_url = url instanceof URL && url.constructor === URL
  const based = new URL('/a/../b?c=1', 'https://Base.example/x/')
  event.properties.with_base = [based.toString(), based instanceof URL, new URL('https://y.example/p', undefined).href].join(' ')
  const q = new URLSearchParams('x=1&y=2&x=3')
  const seen = []
  q.forEach(function (v, k) { seen.push(k + v + (this && this.tag)) }, { tag: '!' })
  event.properties.params_for_each = seen.join(' ')
  return event
}
