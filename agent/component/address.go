package component

import (
	"fmt"
	"net"
)

// CheckListenAddress reports why addr cannot be listened on: not host:port,
// or a port that is neither a number from 0 to 65535 nor a service name
// (":http"). net.Listen would refuse it only when the source starts; a
// config check must refuse it first.
func CheckListenAddress(network, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port, got %q", addr)
	}
	if _, err := net.LookupPort(network, port); err != nil {
		return fmt.Errorf("port %q of %q is not a port number (0 to 65535) or a service name", port, addr)
	}
	return nil
}
