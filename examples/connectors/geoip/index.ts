// The PostHog GeoIP Enricher, written for hogtail: looks up the event's IP
// with meta.geoip.locate and adds $geoip_* properties, and sets the person's
// current ($set) and first ($set_once, $initial_geoip_*) location.
import type { Meta, PluginEvent } from '@posthog/plugin-scaffold'

const DAY_SECONDS = 24 * 60 * 60

// Every location key, so that a person whose new location lacks one (no
// postal code, say) does not keep the old value.
const LOCATION_KEYS = [
    'city_name',
    'country_name',
    'country_code',
    'continent_name',
    'continent_code',
    'postal_code',
    'latitude',
    'longitude',
    'time_zone',
]

function blank(prefix: string): Record<string, null> {
    const out: Record<string, null> = {}
    for (const key of LOCATION_KEYS) {
        out[`${prefix}${key}`] = null
    }
    return out
}

// flatten turns a geoip2 City record into {city_name: ..., ...}.
function flatten(city: any): Record<string, unknown> {
    const loc: Record<string, unknown> = {}
    if (city.city) loc.city_name = city.city.names?.en
    if (city.country) {
        loc.country_name = city.country.names?.en
        loc.country_code = city.country.isoCode
    }
    if (city.continent) {
        loc.continent_name = city.continent.names?.en
        loc.continent_code = city.continent.code
    }
    if (city.postal) loc.postal_code = city.postal.code
    if (city.location) {
        loc.latitude = city.location.latitude
        loc.longitude = city.location.longitude
        loc.time_zone = city.location.timeZone
    }
    ;(city.subdivisions || []).forEach((sub: any, i: number) => {
        loc[`subdivision_${i + 1}_code`] = sub.isoCode
        loc[`subdivision_${i + 1}_name`] = sub.names?.en
    })
    // A record may lack a part ({} for a network without a city): leave
    // the key out rather than write undefined.
    for (const key of Object.keys(loc)) {
        if (loc[key] === undefined) delete loc[key]
    }
    return loc
}

export async function processEvent(event: PluginEvent, { geoip, cache }: Meta & { geoip: any }) {
    const props = event.properties || {}
    const raw = props.$ip || event.ip
    if (!raw || props.$geoip_disable) {
        return event
    }
    const ip = String(raw)
    const city = await geoip.locate(ip)
    if (!city) {
        return event // private, reserved or unknown address
    }
    const loc = flatten(city)
    event.properties = props

    // Update the person only when the IP changed, and not from an event
    // older than the one that set the current location.
    let updatePerson = true
    const last = await cache.get(`geoip:${event.distinct_id}`, null)
    if (typeof last === 'string') {
        const [lastIp, lastTime] = last.split('|')
        const late = Boolean(event.timestamp && lastTime && new Date(event.timestamp) < new Date(lastTime))
        if (lastIp === ip || late) {
            updatePerson = false
        }
    }
    if (updatePerson) {
        event.$set = { ...blank('$geoip_'), ...(event.$set || {}) }
        event.$set_once = { ...blank('$initial_geoip_'), ...(event.$set_once || {}) }
        await cache.set(`geoip:${event.distinct_id}`, `${ip}|${event.timestamp || ''}`, DAY_SECONDS)
    }
    for (const [key, value] of Object.entries(loc)) {
        props[`$geoip_${key}`] = value
        if (updatePerson) {
            event.$set![`$geoip_${key}`] = value
            event.$set_once![`$initial_geoip_${key}`] = value
        }
    }
    return event
}
