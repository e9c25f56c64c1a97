import type { Plugin, PluginEvent, PluginMeta } from '@posthog/plugin-scaffold'
import { isBot } from './bots'

type BotConfig = {
    action: 'flag' | 'drop'
    extra_patterns: string
}

interface BotGlobal {
    extra: string[]
}

type BotPlugin = Plugin<{ config: BotConfig; global: BotGlobal }>

export const setupPlugin: BotPlugin['setupPlugin'] = ({ config, global }) => {
    global.extra = config.extra_patterns
        .split(',')
        .map((s: string) => s.trim().toLowerCase())
        .filter((s: string) => s.length > 0)
}

export function processEvent(event: PluginEvent, { config, global }: PluginMeta<BotPlugin>): PluginEvent | null {
    const ua = (event.properties?.$user_agent ?? event.properties?.$raw_user_agent) as string | undefined
    if (!isBot(ua, global.extra)) {
        return event
    }
    if (config.action === 'drop') {
        return null
    }
    event.properties = { ...event.properties, $bot: true }
    return event
}
