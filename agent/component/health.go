package component

// Problem is a condition of a running component that the agent's /health
// reports, such as a connector that was switched off after failing.
type Problem struct {
	// Subject names the part of the component concerned (a connector of a
	// chain); empty for the component as a whole.
	Subject string
	// Message says what is wrong, for an operator.
	Message string
}

// HealthReporter is implemented by a source, transform or sink that can be
// degraded while it keeps running (a connector switched off by its breaker,
// a source that cannot bind its port any more). The agent calls Health on every /health request,
// so it must be cheap and safe for concurrent use; an empty result means
// healthy. Such problems show in /health only: they do not withhold the
// systemd watchdog, since restarting the agent would not fix them.
type HealthReporter interface {
	Health() []Problem
}
