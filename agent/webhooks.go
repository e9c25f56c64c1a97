package agent

import (
	"fmt"

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

// exportsSuffix names a transform's own export sink: "NAME.exports".
const exportsSuffix = ".exports"

// exportSink builds the export sink of a transform that implements
// component.Exporter and has something to export (connectors with onEvent
// or exportEvents), or returns nil. The sink belongs to the transform: it
// is rebuilt exactly when the transform is, so its fingerprint is the
// transform's.
func exportSink(cfg *config.Config, t *runningTransform) (*runningSink, error) {
	ex, ok := t.tr.(component.Exporter)
	if !ok {
		return nil, nil
	}
	sink, d, ok, err := ex.ExportSink()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	name := t.name + exportsSuffix
	if _, taken := cfg.Sinks[name]; taken {
		return nil, fmt.Errorf("sink %q is configured, but that name belongs to the export queue of this transform's onEvent/exportEvents connectors: rename the sink", name)
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("exports: %w", err)
	}
	spec := &config.Sink{Name: name, Type: "exports", Inputs: []string{t.name}, Delivery: &d, Implicit: true}
	return &runningSink{name: name, fp: t.fp, spec: spec, exportsOf: t.name, sink: sink, delivery: d, status: newSinkStatus()}, nil
}
