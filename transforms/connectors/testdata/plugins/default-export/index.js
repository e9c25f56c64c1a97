const plugin = {
    processEvent: async (event) => {
        event.properties.style = 'exports.default'
        return event
    },
}
export default plugin
