import { PluginEvent, PluginMeta, Plugin, RetryError } from '@posthog/plugin-scaffold'

enum Level {
    Low = 'low',
    High = 'high',
}

interface Config {
    level: Level
}

type TSPlugin = Plugin<{ config: Config }>

class Scorer {
    constructor(private readonly level: Level) {}
    score(e: PluginEvent): number {
        return (e.properties?.count as number ?? 0) * (this.level === Level.High ? 10 : 1)
    }
}

export function processEvent(event: PluginEvent, { config }: PluginMeta<TSPlugin>): PluginEvent {
    const s = new Scorer(config.level)
    event.properties = { ...event.properties, score: s.score(event), retry_error_is_error: new RetryError('x') instanceof Error }
    return event
}
