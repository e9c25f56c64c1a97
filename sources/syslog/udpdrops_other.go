//go:build !linux

package syslogsource

import (
	"errors"
	"net"
)

var oobSize = 0

// enableDropCount is only implemented on Linux (SO_RXQ_OVFL).
func enableDropCount(*net.UDPConn) error {
	return errors.New("not supported on this system")
}

type dropCounter struct{}

func (*dropCounter) update([]byte) uint32 { return 0 }
