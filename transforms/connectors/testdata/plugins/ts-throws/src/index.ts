import { check } from '../lib/check'

interface Meta {
    config: { mode: string }
}

export function setupPlugin(meta: Meta): void {
    if (meta.config.mode === 'setup') {
        throw new Error('setup refused: mode is setup')
    }
}

export function processEvent(event: { event: string; properties: Record<string, unknown> }) {
    check(event.event)
    return event
}
