// URLSearchParams changes reach url.href and url.search, serialised as
// Node does (a + in a value is %2B); a query a URL was given stays as it
// was until it changes (expected values taken from Node 20).
export function processEvent(e) {
  const u = new URL('https://shop.example.com/p/1?utm_source=news&b=2&a=1#top')
  const r = {}
  r.orig = u.href
  u.searchParams.delete('utm_source')
  r.href = u.href; r.search = u.search; r.str = u.toString(); r.json = JSON.stringify(u)
  u.searchParams.set('q', 'a b+c')
  r.href2 = u.href; r.search2 = u.search; r.str2 = `${u}`; r.href2b = u.href
  r.sp = new URLSearchParams({To:'+15551234', B: "hi there & bye!~'()*"}).toString()
  const u2 = new URL('https://x.test/?a=1'); u2.search = 'b=2'; r.href3 = u2.href
  const u3 = new URL('https://x.test/path?x=1'); u3.searchParams.append('y', '2'); r.href4 = u3.href
  u3.search = '?z=%20'; r.href5 = u3.href
  const u4 = new URL('https://x.test/p?keep=%7Eraw'); r.href6 = u4.href
  u4.searchParams.delete('keep'); r.href7 = u4.href
  const u5 = new URL('https://x.test/p?a=%20b&c=d'); r.href8 = u5.href; u5.searchParams.sort(); r.href9 = u5.href
  const u6 = new URL('https://x.test/p'); u6.searchParams.set('q', 'a b+c'); r.href10 = u6.href; r.href10b = u6.toString()
  const u7 = new URL('https://x.test/p?x=a+b&y=~'); r.href11 = u7.href; r.search11 = u7.search
  const u8 = new URL('https://x.test/p?'); r.href12 = u8.href
  e.properties.r = r
  return e
}
