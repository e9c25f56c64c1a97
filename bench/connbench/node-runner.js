// Runs connector bundles the way PostHog's plugin server runs plugins, as
// the baseline of the connector benchmark: one vm context per connector with
// the plugin server's globals, the CommonJS bundle evaluated inside a
// `module`/`exports` prelude, host modules served by a require that knows only
// crypto and url, setupPlugin awaited once, then for every event
// `await processEvent(event, meta)` connector after connector (a falsy result
// drops the event). Events are read as JSON lines and each result is
// serialised again, as `hogtail test` does.
//
// node node-runner.js [--print] EVENTS.jsonl BUNDLE.js:CONFIG.json [BUNDLE.js:CONFIG.json ...]
// prints {"events_in", "events_out", "seconds", "cpu_seconds"} on stdout, or
// with --print every resulting event as a JSON line.
'use strict'
const fs = require('fs')
const vm = require('vm')
const crypto = require('crypto')
const url = require('url')

const hostModules = { crypto, url }

function load(bundlePath, configPath) {
  const code = fs.readFileSync(bundlePath, 'utf8')
  const config = JSON.parse(fs.readFileSync(configPath, 'utf8'))
  const sandbox = {
    console,
    URL,
    URLSearchParams,
    Buffer,
    TextEncoder,
    TextDecoder,
    require: (name) => {
      if (!(name in hostModules)) throw new Error(`Cannot import '${name}'! This package is not provided by PostHog in plugins.`)
      return hostModules[name]
    },
  }
  vm.createContext(sandbox)
  // The plugin server's prelude: the bundle runs at the top level of the
  // context, so a bare top-level `function processEvent` becomes a global.
  vm.runInContext(`const module = { exports: {} }; let exports = module.exports;\n${code}`, sandbox, { filename: bundlePath })
  const candidates = [
    vm.runInContext('exports', sandbox),
    vm.runInContext('exports && exports.default', sandbox),
    vm.runInContext('module.exports', sandbox),
  ].filter((c) => c && typeof c === 'object' && Object.keys(c).length > 0)
  const exportsObj = candidates.length > 0 ? candidates[0] : sandbox
  const meta = { config, global: {}, attachments: {}, cache: {}, storage: {} }
  return { exportsObj, meta }
}

async function main() {
  let args = process.argv.slice(2)
  const print = args[0] === '--print'
  if (print) args = args.slice(1)
  const [eventsPath, ...specs] = args
  const plugins = specs.map((s) => {
    const i = s.lastIndexOf(':')
    return load(s.slice(0, i), s.slice(i + 1))
  })
  for (const p of plugins) {
    if (typeof p.exportsObj.setupPlugin === 'function') {
      await p.exportsObj.setupPlugin(p.meta)
    }
  }
  const lines = fs.readFileSync(eventsPath, 'utf8').split('\n').filter((l) => l.length > 0)
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  let out = 0
  let bytes = 0
  for (const line of lines) {
    let event = JSON.parse(line)
    for (const p of plugins) {
      const fn = p.exportsObj.processEvent
      if (typeof fn !== 'function') continue
      try {
        event = (await fn(event, p.meta)) || null
      } catch (e) {
        // As in PostHog: the event continues unchanged.
      }
      if (!event) break
    }
    if (event) {
      const json = JSON.stringify(event)
      bytes += json.length
      out++
      if (print) process.stdout.write(json + '\n')
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  const cpu = process.cpuUsage(cpu0)
  if (print) return
  process.stdout.write(JSON.stringify({ events_in: lines.length, events_out: out, bytes_out: bytes, seconds, cpu_seconds: (cpu.user + cpu.system) / 1e6 }) + '\n')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
