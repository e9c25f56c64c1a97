// The PostHog tutorial app: greet every event.
async function setupPlugin({ config, global }) {
    console.log(`Setting up the plugin: ${config.greeting}`)
    global.greeting = config.greeting
}

async function processEvent(event, { global }) {
    event.properties['greeting'] = global.greeting
    return event
}
