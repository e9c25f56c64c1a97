package syslogsource

import (
	"encoding/binary"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// oobSize is room for the SO_RXQ_OVFL control message.
var oobSize = unix.CmsgSpace(4)

// enableDropCount sets SO_RXQ_OVFL: every datagram read then carries the
// socket's count of datagrams the kernel dropped (receive queue full).
func enableDropCount(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("SO_RXQ_OVFL: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	}); err != nil {
		return fmt.Errorf("SO_RXQ_OVFL: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("SO_RXQ_OVFL: %w", serr)
	}
	return nil
}

// dropCounter turns the kernel's running drop count into increments.
type dropCounter struct {
	last uint32
}

// update reads the drop count in oob (the control messages of one read)
// and returns how many drops happened since the last count seen. The
// kernel sends the count only once it is not zero; it is a wrapping
// uint32, so the difference is taken modulo 2^32.
func (d *dropCounter) update(oob []byte) uint32 {
	if len(oob) == 0 {
		return 0
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_RXQ_OVFL && len(m.Data) >= 4 {
			v := binary.NativeEndian.Uint32(m.Data)
			delta := v - d.last
			d.last = v
			return delta
		}
	}
	return 0
}
