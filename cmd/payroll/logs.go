package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// Logs (docs/design.md §5): text on a terminal, or --log-format json, in
// which every line on stderr is a JSON object, the command's own messages
// (warnings, errors, the lists it prints there) included, and every one
// carries the batch once the command knows it.

// setBatch makes the batch ID part of every log line from now on.
func (g *globalOptions) setBatch(id string) {
	g.batchMu.Lock()
	g.batchID = id
	g.batchMu.Unlock()
}

func (g *globalOptions) batch() string {
	g.batchMu.Lock()
	defer g.batchMu.Unlock()
	return g.batchID
}

// batchHandler adds the batch to a record that does not name one.
type batchHandler struct {
	slog.Handler
	g *globalOptions
}

func (h batchHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := h.g.batch(); id != "" {
		has := false
		r.Attrs(func(a slog.Attr) bool {
			has = a.Key == "batch"
			return !has
		})
		if !has {
			r = r.Clone()
			r.AddAttrs(slog.String("batch", id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h batchHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return batchHandler{h.Handler.WithAttrs(as), h.g}
}

func (h batchHandler) WithGroup(name string) slog.Handler {
	return batchHandler{h.Handler.WithGroup(name), h.g}
}

// jsonLines turns what a command prints on stderr into log records, one
// per line: in JSON mode nothing on stderr is plain text. A line that
// starts with "payroll: " is an error; the rest are warnings (stderr holds
// what needs attention).
type jsonLines struct {
	mu  sync.Mutex
	log func() *slog.Logger
	buf []byte
}

func (j *jsonLines) Write(p []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf = append(j.buf, p...)
	for {
		i := bytes.IndexByte(j.buf, '\n')
		if i < 0 {
			break
		}
		j.emit(string(j.buf[:i]))
		j.buf = j.buf[i+1:]
	}
	return len(p), nil
}

func (j *jsonLines) emit(line string) {
	if strings.TrimSpace(line) == "" {
		return
	}
	if msg, ok := strings.CutPrefix(line, "payroll: "); ok {
		j.log().Error(msg)
		return
	}
	j.log().Warn(line)
}

// Flush emits a last line without its newline.
func (j *jsonLines) Flush() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.buf) > 0 {
		j.emit(string(j.buf))
		j.buf = nil
	}
}

var _ io.Writer = (*jsonLines)(nil)
