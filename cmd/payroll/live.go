package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"payroll/ledger"
)

// Looking at a ledger while a run or settle holds it (docs/design.md §5:
// only writers exclude each other).
//
// bbolt locks its file for the whole life of a writing open, and a run
// waits up to --wait (15 minutes) with it open. Rather than have the
// writer close and reopen the file around every transaction (each open
// walks every page, 0.33 s for a million lines) or read a file that a
// writer is changing underneath (a copy can mix pages of two commits),
// the writer itself answers: it listens on <ledger>.sock (0600, beside the
// ledger) and runs status, report and check for whoever asks, on a
// read-only handle of its own open file (ledger.DB.Borrow). Every read is
// a bbolt read transaction: a consistent snapshot however the writer
// commits meanwhile, so nothing shown can be torn.
//
// A read-only command that finds the ledger busy asks the socket; if no
// writer answers there, it says "ledger busy" (exit 11) as before.

// liveCommands may be answered by a writer.
var liveCommands = []string{"status", "report", "check"}

// errAskWriter is returned when a read-only command found the ledger busy:
// execute then asks the writer (askLive).
type errAskWriter struct {
	path string // the ledger
	busy error
}

func (e *errAskWriter) Error() string { return e.busy.Error() }
func (e *errAskWriter) Unwrap() error { return e.busy }

func liveSocket(ledgerPath string) string { return ledgerPath + ".sock" }

// liveRequest is what a reader sends: the command line, with every path
// absolute (the writer's working directory may differ).
type liveRequest struct {
	Args []string `json:"args"`
}

type liveResponse struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Code   int    `json:"code"`
}

// serveLive answers read-only commands on db's socket until the returned
// stop is called. Failing to listen is not an error: readers then get
// "ledger busy" as before.
func (g *globalOptions) serveLive(db *ledger.DB) (stop func()) {
	sock := liveSocket(db.Path())
	if len(sock) > 100 { // sun_path is 104 to 108 bytes
		return func() {}
	}
	os.Remove(sock) // this process holds the ledger: any socket there is stale
	ln, err := net.Listen("unix", sock)
	if err != nil {
		g.logger().Debug("live status socket not available", "socket", sock, "err", err)
		return func() {}
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		os.Remove(sock)
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go g.answer(c, db)
		}
	}()
	return func() {
		ln.Close()
		<-done
		os.Remove(sock)
	}
}

// answer runs one reader's command on a borrowed handle.
func (g *globalOptions) answer(c net.Conn, db *ledger.DB) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Minute))
	var req liveRequest
	if err := json.NewDecoder(io.LimitReader(c, 1<<20)).Decode(&req); err != nil {
		return
	}
	var resp liveResponse
	if c, _, err := newRootCommand(&globalOptions{}).Find(req.Args); err != nil || !slices.Contains(liveCommands, c.Name()) {
		resp = liveResponse{Stderr: "payroll: a running payroll answers only status, report and check\n", Code: exitUsage}
	} else {
		var out, errOut syncWriter
		g2 := &globalOptions{stdin: bytes.NewReader(nil), stdout: &out, stderr: &errOut, borrowed: db.Borrow()}
		fmt.Fprintf(&errOut, "payroll: process %d is writing this ledger; this is its snapshot of %s\n", os.Getpid(), time.Now().Format("15:04:05"))
		resp.Code = executeWith(context.Background(), g2, req.Args)
		resp.Stdout, resp.Stderr = out.String(), errOut.String()
	}
	json.NewEncoder(c).Encode(resp)
}

// askLive sends the command line to the writer holding the ledger and
// prints its answer; without a writer listening it reports the busy error.
func askLive(ctx context.Context, e *errAskWriter, args []string, stdout, stderr io.Writer) int {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "unix", liveSocket(e.path))
	if err != nil {
		fmt.Fprintf(stderr, "payroll: %s\n", e.busy)
		return exitLocked
	}
	defer c.Close()
	if err := json.NewEncoder(c).Encode(liveRequest{Args: args}); err != nil {
		fmt.Fprintf(stderr, "payroll: %s (and the running process did not answer: %v)\n", e.busy, err)
		return exitLocked
	}
	var resp liveResponse
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		fmt.Fprintf(stderr, "payroll: %s (and the running process did not answer: %v)\n", e.busy, err)
		return exitLocked
	}
	io.WriteString(stdout, resp.Stdout)
	io.WriteString(stderr, resp.Stderr)
	return resp.Code
}

// absArgs is the command line with the global path flags made absolute,
// as this process resolved them.
func (g *globalOptions) absArgs(args []string, ledgerPath string) []string {
	out := slices.Clone(args)
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	out = append(out, "--ledger", abs(ledgerPath), "--report-dir", abs(g.reports()))
	if p := g.configFile(); p != "" {
		out = append(out, "--config", abs(p))
	}
	return out
}

// syncWriter is a bytes.Buffer safe for the concurrent writes of a
// command's loggers.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
