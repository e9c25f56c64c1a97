package agent

import (
	"io"
	"log/slog"
	"path/filepath"

	"github.com/hogtail/hogtail/agent/buffer"
)

type bufferDeadLetter = buffer.DeadLetter

func openBuffer(dataDir string) (*buffer.Buffer, error) {
	return buffer.Open(filepath.Join(dataDir, BufferFile), buffer.Options{})
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
