// A user-agent parser in the style of the detect-browser library that
// PostHog's user agent plugins use: an ordered list of [name, regex] rules,
// the first match wins, several rules with lookaheads.
const browserRules = [
  ['aol', /AOLShield\/([0-9._]+)/],
  ['edge', /Edge\/([0-9._]+)/],
  ['edge-ios', /EdgiOS\/([0-9._]+)/],
  ['yandexbrowser', /YaBrowser\/([0-9._]+)/],
  ['kakaotalk', /KAKAOTALK\s([0-9.]+)/],
  ['samsung', /SamsungBrowser\/([0-9.]+)/],
  ['silk', /\bSilk\/([0-9._-]+)\b/],
  ['miui', /MiuiBrowser\/([0-9.]+)$/],
  ['beaker', /BeakerBrowser\/([0-9.]+)/],
  ['edge-chromium', /EdgA?\/([0-9.]+)/],
  ['chromium-webview', /(?!Chrom.*OPR)wv\).*Chrom(?:e|ium)\/([0-9.]+)(:?\s|$)/],
  ['chrome', /(?!Chrom.*OPR)Chrom(?:e|ium)\/([0-9.]+)(:?\s|$)/],
  ['phantomjs', /PhantomJS\/([0-9.]+)(:?\s|$)/],
  ['crios', /CriOS\/([0-9.]+)(:?\s|$)/],
  ['firefox', /Firefox\/([0-9.]+)(?:\s|$)/],
  ['fxios', /FxiOS\/([0-9.]+)/],
  ['opera-mini', /Opera Mini.*Version\/([0-9.]+)/],
  ['opera', /Opera\/([0-9.]+)(?:\s|$)/],
  ['opera', /OPR\/([0-9.]+)(:?\s|$)/],
  ['pie', /^Microsoft Pocket Internet Explorer\/(\d+\.\d+)$/],
  ['pie', /^Mozilla\/\d\.\d+\s\(compatible;\s(?:MSP?IE|MSInternet Explorer) (\d+\.\d+);.*Windows CE.*\)$/],
  ['netfront', /^Mozilla\/\d\.\d+.*NetFront\/(\d.\d)/],
  ['ie', /Trident\/7\.0.*rv:([0-9.]+).*\).*Gecko$/],
  ['ie', /MSIE\s([0-9.]+);.*Trident\/[4-7].0/],
  ['ie', /MSIE\s(7\.0)/],
  ['bb10', /BB10;\sTouch.*Version\/([0-9.]+)/],
  ['android', /Android\s([0-9.]+)/],
  ['ios', /Version\/([0-9._]+).*Mobile.*Safari.*/],
  ['safari', /Version\/([0-9._]+).*Safari/],
  ['facebook', /FB[AS]V\/([0-9.]+)/],
  ['instagram', /Instagram\s([0-9.]+)/],
  ['ios-webview', /AppleWebKit\/([0-9.]+).*Mobile/],
  ['ios-webview', /AppleWebKit\/([0-9.]+).*Gecko\)$/],
  ['curl', /^curl\/([0-9.]+)$/],
]
const osRules = [
  ['iOS', /iP(hone|od|ad)/],
  ['Android OS', /Android/],
  ['BlackBerry OS', /BlackBerry|BB10/],
  ['Windows Mobile', /IEMobile/],
  ['Amazon OS', /Kindle/],
  ['Windows 3.11', /Win16/],
  ['Windows 95', /(Windows 95)|(Win95)|(Windows_95)/],
  ['Windows 98', /(Windows 98)|(Win98)/],
  ['Windows 2000', /(Windows NT 5.0)|(Windows 2000)/],
  ['Windows XP', /(Windows NT 5.1)|(Windows XP)/],
  ['Windows Server 2003', /(Windows NT 5.2)/],
  ['Windows Vista', /(Windows NT 6.0)/],
  ['Windows 7', /(Windows NT 6.1)/],
  ['Windows 8', /(Windows NT 6.2)/],
  ['Windows 8.1', /(Windows NT 6.3)/],
  ['Windows 10', /(Windows NT 10.0)/],
  ['Windows ME', /Windows ME/],
  ['Windows CE', /Windows CE|WinCE|Microsoft Pocket Internet Explorer/],
  ['Open BSD', /OpenBSD/],
  ['Sun OS', /SunOS/],
  ['Chrome OS', /CrOS/],
  ['Linux', /(Linux)|(X11)/],
  ['Mac OS', /(Mac_PowerPC)|(Macintosh)/],
  ['QNX', /QNX/],
  ['BeOS', /BeOS/],
  ['OS/2', /OS\/2/],
]
const botPattern = /(nuhk|curl|Googlebot|Yammybot|Openbot|Slurp|MSNBot|Ask\sJeeves\/Teoma|ia_archiver)/

function detect(ua) {
  if (botPattern.test(ua)) {
    return { name: 'bot', version: null, os: null }
  }
  let name = null
  let version = null
  for (const [browser, regex] of browserRules) {
    const match = regex.exec(ua)
    if (match) {
      name = browser
      version = (match[1] || '').split(/[._]/).slice(0, 3).join('.')
      break
    }
  }
  let os = null
  for (const [osName, regex] of osRules) {
    if (regex.exec(ua)) {
      os = osName
      break
    }
  }
  return { name, version, os }
}

function deviceType(ua) {
  if (/(?=.*Mobile)(?=.*(iPhone|Android))/.test(ua)) return 'Mobile'
  if (/iPad|Tablet|(?=.*Android)(?!.*Mobile)/.test(ua)) return 'Tablet'
  return 'Desktop'
}

export function processEvent(event, { config }) {
  const ua = event.properties && event.properties.$raw_user_agent
  if (!ua) {
    return event
  }
  const override = config.overrideUserAgentDetails === 'true'
  if (!override && event.properties.$browser) {
    return event
  }
  const found = detect(ua)
  event.properties.$browser = found.name
  event.properties.$browser_version = found.version
  event.properties.$os = found.os
  event.properties.$device_type = deviceType(ua)
  return event
}
