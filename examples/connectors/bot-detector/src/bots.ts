// Substrings of well-known crawler and automation user agents.
export const BOT_PATTERNS: readonly string[] = [
    'bot',
    'crawler',
    'spider',
    'headlesschrome',
    'curl/',
    'python-requests',
    'go-http-client',
    'lighthouse',
]

export function isBot(userAgent: string | undefined, extra: string[]): boolean {
    if (!userAgent) {
        return false
    }
    const ua = userAgent.toLowerCase()
    return [...BOT_PATTERNS, ...extra].some((p) => ua.includes(p))
}
