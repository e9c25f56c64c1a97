package component

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// register registers c on reg and returns it, or returns the collector
// already registered under the same description: a component rebuilt by a
// config reload finds its collectors registered and keeps counting on them.
// Any other registration error is returned with c. A nil reg is allowed.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if old, ok := are.ExistingCollector.(C); ok {
				return old, nil
			}
		}
		return c, err
	}
	return c, nil
}

// RegisterInto registers c on reg for a constructor that registers
// several collectors (see register): it returns the collector to use and
// joins a registration error into *errp, which the constructor returns.
// It is the one way hogtail registers collectors, and no error is dropped:
// a collector that failed to register would never be exported.
func RegisterInto[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	c, err := register(reg, c)
	*errp = errors.Join(*errp, err)
	return c
}
