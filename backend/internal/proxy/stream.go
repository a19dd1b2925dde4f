package proxy

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// defaultIdleTimeout bounds a pause in a streamed body (Options.IdleTimeout).
const defaultIdleTimeout = 60 * time.Second

// deadlineStep is how often, at most, a flowing stream moves its deadlines
// (a quarter of the idle timeout when that is shorter): a deadline is set
// IdleTimeout after the latest progress, give or take this much.
const deadlineStep = time.Second

// idleGuard replaces the server's whole-request deadlines (http.Server's
// ReadTimeout and WriteTimeout, which would cut a server-sent-events stream
// or a long download at a fixed age) with idle deadlines for one proxied
// request: every chunk read from the browser or written to it moves the
// connection's read or write deadline to now+idle; every chunk read from
// the upstream restarts a timer that cancels the upstream request when the
// upstream stays silent for idle. A stream may so last as long as bytes
// flow, and a stalled one — on either side — is cut within idle (plus
// deadlineStep).
type idleGuard struct {
	rc     *http.ResponseController
	idle   time.Duration
	step   time.Duration // deadlineStep, or idle/4 if shorter
	cancel context.CancelFunc

	mu        sync.Mutex
	timer     *time.Timer // upstream silence; nil until the response body streams
	lastRead  time.Time   // last read deadline set (browser → BFF)
	lastWrite time.Time   // last write deadline set (BFF → browser)
}

// newIdleGuard lifts the server's deadlines on w's connection and returns
// the guard and the context the upstream request must use (cancelled when
// the upstream goes silent, or by stop). hasBody tells whether the browser
// still sends a request body.
func newIdleGuard(ctx context.Context, w http.ResponseWriter, idle time.Duration, hasBody bool) (*idleGuard, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	g := &idleGuard{rc: http.NewResponseController(w), idle: idle, step: min(deadlineStep, idle/4), cancel: cancel}
	now := time.Now()
	if hasBody {
		g.setRead(now)
	} else {
		g.requestRead()
	}
	g.setWrite(now)
	return g, ctx
}

// requestRead clears the read deadline once the request is wholly read:
// nothing more is read from the browser until the response ends (the
// server only watches for it closing the connection, and a deadline there
// would cancel the request), and the server sets its own deadline again
// for the next request.
func (g *idleGuard) requestRead() {
	_ = g.rc.SetReadDeadline(time.Time{})
}

// setRead moves the read deadline (errors: the writer cannot, e.g. in a
// test recorder; the server's deadline then stays).
func (g *idleGuard) setRead(now time.Time) {
	g.lastRead = now
	_ = g.rc.SetReadDeadline(now.Add(g.idle))
}

func (g *idleGuard) setWrite(now time.Time) {
	g.lastWrite = now
	_ = g.rc.SetWriteDeadline(now.Add(g.idle))
}

// readProgress records a read from the browser's request body. The write
// deadline moves too: nothing is written while the browser uploads, and
// the response comes after.
func (g *idleGuard) readProgress(n int, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if err == io.EOF {
		g.requestRead()
	} else if n > 0 && now.Sub(g.lastRead) >= g.step {
		g.setRead(now)
	}
	if n > 0 && now.Sub(g.lastWrite) >= g.step {
		g.setWrite(now)
	}
}

// writeProgress records bytes written to the browser.
func (g *idleGuard) writeProgress() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now := time.Now(); now.Sub(g.lastWrite) >= g.step {
		g.setWrite(now)
	}
}

// upstreamProgress records a read from the upstream (or its headers):
// the upstream has idle from now to send more.
func (g *idleGuard) upstreamProgress(int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now := time.Now(); now.Sub(g.lastWrite) >= g.step {
		g.setWrite(now) // what arrives is written to the browser next
	}
	if g.timer == nil {
		g.timer = time.AfterFunc(g.idle, g.cancel)
		return
	}
	g.timer.Reset(g.idle)
}

// stop ends the guard when the request is done.
func (g *idleGuard) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.timer != nil {
		g.timer.Stop()
	}
	g.cancel()
}

// idleWriter is the browser's ResponseWriter, reporting writes to the
// guard. Unwrap keeps http.ResponseController (Flush) working.
type idleWriter struct {
	http.ResponseWriter
	g *idleGuard
}

func (w idleWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	if n > 0 {
		w.g.writeProgress()
	}
	return n, err
}

// Flush implements http.Flusher (the ReverseProxy flushes every write).
func (w idleWriter) Flush() {
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w idleWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// idleBody is a body (the browser's request body, or the upstream's
// response body) reporting each read to progress.
type idleBody struct {
	io.ReadCloser
	progress func(n int, err error)
}

func (b idleBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 || err != nil {
		b.progress(n, err)
	}
	return n, err
}
