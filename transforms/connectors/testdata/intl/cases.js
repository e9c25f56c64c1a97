const d = new Date(1709647631987);
const cases = {};
const L = ['en-US', 'en-GB', 'de-DE', 'fr-FR', 'es-ES', 'it-IT', 'nl-NL', 'pt-BR', 'ja-JP', 'sv-SE', 'pl-PL'];
const dopts = [undefined, { weekday: 'long' }, { weekday: 'short' }, { month: 'long' }, { month: 'short' }, { year: 'numeric' },
  { year: 'numeric', month: 'long', day: 'numeric' }, { year: 'numeric', month: 'short', day: 'numeric' },
  { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' }, { month: 'long', day: 'numeric' }, { month: 'long', year: 'numeric' },
  { year: 'numeric', month: '2-digit', day: '2-digit' }, { dateStyle: 'full' }, { dateStyle: 'long' }, { dateStyle: 'medium' }, { dateStyle: 'short' },
  { day: 'numeric' }, { weekday: 'short', year: 'numeric', month: 'numeric', day: 'numeric' }];
const topts = [undefined, { hour: '2-digit', minute: '2-digit' }, { timeStyle: 'short' }, { timeStyle: 'medium' }, { hour12: false }, { hour12: true }, { hour: 'numeric', minute: '2-digit', second: '2-digit' }];
for (const l of L) {
  dopts.forEach((o, i) => { cases[`date ${l} ${JSON.stringify(o)}`] = d.toLocaleDateString(l, { timeZone: 'UTC', ...o }); });
  topts.forEach((o, i) => { cases[`time ${l} ${JSON.stringify(o)}`] = d.toLocaleTimeString(l, { timeZone: 'UTC', ...o }); });
  cases[`string ${l}`] = d.toLocaleString(l, { timeZone: 'UTC' });
  cases[`dtf ${l}`] = new Intl.DateTimeFormat(l, { timeZone: 'UTC' }).format(d);
  for (const n of [1234567.891, -0.5, 0, 1e21, 0.0005, 1.0005, 12.5, -1234.5]) cases[`num ${l} ${n}`] = n.toLocaleString(l);
  cases[`eur ${l}`] = new Intl.NumberFormat(l, { style: 'currency', currency: 'EUR' }).format(1234.5);
  cases[`usd ${l}`] = new Intl.NumberFormat(l, { style: 'currency', currency: 'USD' }).format(-1234.567);
  cases[`jpy ${l}`] = new Intl.NumberFormat(l, { style: 'currency', currency: 'JPY' }).format(1234.5);
  cases[`pct ${l}`] = new Intl.NumberFormat(l, { style: 'percent' }).format(0.256);
  cases[`fd ${l}`] = (1234.5).toLocaleString(l, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  cases[`nogroup ${l}`] = (1234567.5).toLocaleString(l, { useGrouping: false });
}
cases['tz ny'] = d.toLocaleString('en-US', { timeZone: 'America/New_York' });
cases['tz tokyo'] = d.toLocaleString('en-GB', { timeZone: 'Asia/Tokyo' });
cases['default'] = d.toLocaleString(undefined, { timeZone: 'UTC' });
cases['array'] = d.toLocaleDateString(['xx-YY', 'de-DE'], { timeZone: 'UTC' });
cases['unknown'] = d.toLocaleDateString('tlh', { timeZone: 'UTC' });
for (const s of ['1709647631987', '20240305', '2024', '2024-03-05', '2024-03-05T14:07:11Z', 'March 5, 2024', 'garbage', 'Tue, 05 Mar 2024 14:07:11 GMT']) cases[`parse ${s}`] = String(new Date(s).getTime());
cases['parse fn'] = String(Date.parse('1709647631987'));
cases['instanceof'] = String(new Date() instanceof Date);
cases['invalid toLocale'] = new Date(NaN).toLocaleDateString('en-US');
cases['resolved tz'] = new Intl.DateTimeFormat('en-US', { timeZone: 'Europe/Paris' }).resolvedOptions().timeZone;
cases['resolved locale'] = new Intl.NumberFormat('de-DE').resolvedOptions().locale;
let err; try { new Intl.DateTimeFormat('en', { timeZone: 'Mars/Olympus' }) } catch (e) { err = e.name + ': ' + e.message }
cases['bad tz'] = err;
try { (1).toLocaleString('en', { style: 'currency' }) } catch (e) { err = e.name + ': ' + e.message }
cases['no currency'] = err;
cases['no new'] = Intl.DateTimeFormat('en-US', { timeZone: 'UTC' }).format(d);
cases['subclass'] = String(new (class extends Date {})(86400000).toISOString());
cases['utc'] = String(Date.UTC(2024, 0, 1));
cases['constructor'] = String(new Date(0).constructor === Date);
cases['call'] = typeof Date();
cases['parse iso'] = String(Date.parse('2024-03-05T14:07:11.987Z'));
