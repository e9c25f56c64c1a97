function processEvent(event) { event.properties.shipper = 'hogtail'; return event }
