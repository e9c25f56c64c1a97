package agent

import (
	"encoding/json"
	"fmt"
)

// fingerprint identifies a component's type and options, so a reload can
// tell which components changed. Inputs are not part of it: rewiring only
// changes the routing, not the component.
func fingerprint(typ string, cfg any) string {
	b, err := json.Marshal(cfg)
	if err != nil {
		// Unencodable configs always count as changed.
		return fmt.Sprintf("%s/%p", typ, cfg)
	}
	return typ + "/" + string(b)
}
