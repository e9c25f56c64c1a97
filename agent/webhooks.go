package agent

import (
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/config"
)

// implicitWebhookType is the sink type created for connector chains whose
// webhooks no configured sink delivers.
const implicitWebhookType = "webhook"

// addImplicitWebhookSinks adds a "NAME.webhooks" sink of type webhook, with
// default options, for every connectors transform not covered by a webhook
// sink. Without a registered webhook sink type nothing is added and
// composed webhooks go to dead letters.
func addImplicitWebhookSinks(cfg *config.Config, sinks map[string]*config.Sink, covered map[string]bool) map[string]*config.Sink {
	f, ok := cfg.Registry().Sinks[implicitWebhookType]
	if !ok {
		return sinks
	}
	for name, t := range cfg.Transforms {
		if t.Type != "connectors" || covered[name] {
			continue
		}
		c, ok := f.NewConfig().(component.SinkConfig)
		if !ok {
			continue
		}
		sinkName := name + ".webhooks"
		sinks[sinkName] = &config.Sink{
			Name: sinkName, Type: implicitWebhookType, Inputs: []string{name},
			Config: c, Factory: f, Delivery: c.Delivery(), Implicit: true,
		}
	}
	return sinks
}
