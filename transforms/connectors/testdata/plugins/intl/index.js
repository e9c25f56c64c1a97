// What real plugins call on Date, Number and Intl; the golden output is
// Node's for the same code (TZ=UTC).
export function processEvent(event) {
    const d = new Date(event.properties.ms)
    const p = event.properties
    p.weekday_gb = d.toLocaleDateString('en-GB', { weekday: 'long', timeZone: 'UTC' })
    p.date_us = d.toLocaleDateString('en-US', { timeZone: 'UTC' })
    p.time_us = d.toLocaleTimeString('en-US', { timeZone: 'UTC' })
    p.both_gb = d.toLocaleString('en-GB', { timeZone: 'UTC' })
    p.long_de = d.toLocaleDateString('de-DE', { year: 'numeric', month: 'long', day: 'numeric', timeZone: 'UTC' })
    p.ny = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'America/New_York' }).format(d)
    p.amount_de = new Intl.NumberFormat('de-DE', { style: 'currency', currency: 'EUR' }).format(p.amount)
    p.amount_us = p.amount.toLocaleString('en-US')
    p.share = new Intl.NumberFormat('en-US', { style: 'percent', maximumFractionDigits: 1 }).format(p.share)
    p.digits_date_valid = !isNaN(new Date(String(p.ms)).getTime())
    return event
}
