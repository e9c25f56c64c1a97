package agent

import (
	"io"
	"log/slog"
	"path/filepath"

	"github.com/hogtail/hogtail/agent/buffer"
	"github.com/hogtail/hogtail/agent/component"
)

type bufferDeadLetter = buffer.DeadLetter

func openBuffer(dataDir string) (*buffer.Buffer, error) {
	return buffer.Open(filepath.Join(dataDir, BufferFile), buffer.Options{})
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func bufferQueueConfig() buffer.QueueConfig {
	return buffer.QueueConfig{MaxSize: 1 << 30, WhenFull: component.WhenFullBlock}
}
