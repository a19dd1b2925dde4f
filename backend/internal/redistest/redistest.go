// Package redistest runs real Redis for tests: one redis-server (Start), a
// Sentinel topology (StartSentinel: 1 primary, 1 replica, 3 sentinels) or a
// Cluster (StartCluster: 3 primaries + 3 replicas), with ways to kill a
// primary and wait for the promotion, and to drop every client connection
// (KillClients) as a restart or a fail-over would.
//
// Every test that needs Redis starts its own server on a free 127.0.0.1
// port, with its data directory in t.TempDir(), and the server is stopped in
// t.Cleanup. Nothing is shared between tests, so tests may run in parallel
// and cannot see each other's keys.
//
// When the redis-server binary is absent the test is skipped with a message
// saying so — unless the CI environment variable is set (CI=true, as on
// every CI system), where a missing binary fails the test: a CI run that
// silently skips the Redis suite would prove nothing.
//
// The server can be stopped, killed and started again on the same port and
// directory, for outage and recovery tests. By default it keeps nothing on
// disk (--save "" --appendonly no); WithPersistence turns on the append-only
// file with fsync on every write so data survives Stop, Kill and Start.
//
// Programs that are not tests (the load harness, cmd/bffbench) use Launch
// and Close instead of Start.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultBinary is where redis-server is looked for when it is not on PATH.
const DefaultBinary = "/usr/bin/redis-server"

const (
	startTimeout = 10 * time.Second
	stopTimeout  = 10 * time.Second
)

// Option changes how Start configures the server.
type Option func(*options)

type options struct {
	persistent bool
	extraArgs  []string
	// sentinelConf, when set, makes the process a redis-sentinel with this
	// configuration (port, bind and dir are added).
	sentinelConf string
	// clusterNodeTimeout, when set, makes the node a cluster node with
	// its bus on a second free port.
	clusterNodeTimeout time.Duration
}

// WithPersistence turns on the append-only file (appendonly yes, appendfsync
// always): keys written before Stop or Kill are there again after Start.
func WithPersistence() Option {
	return func(o *options) { o.persistent = true }
}

// WithArgs appends raw redis-server arguments (e.g. "--maxmemory", "1mb").
func WithArgs(args ...string) Option {
	return func(o *options) { o.extraArgs = append(o.extraArgs, args...) }
}

// Server is one redis-server process owned by a test (Start) or a program
// (Launch). The methods of a test's server must be called from the test's
// goroutine (they call t.Fatal on failure); of those, a program's server
// has only Addr, URL, Dir, Running and Close.
type Server struct {
	t      testing.TB // nil for a server from Launch
	bin    string
	dir    string
	port   int
	bus    int // cluster bus port, for cluster nodes
	opts   options
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// ErrNoBinary is returned by Launch when redis-server is neither on PATH
// nor at DefaultBinary.
var ErrNoBinary = errors.New("redistest: redis-server not found (looked on PATH and at " + DefaultBinary + ")")

// Start starts a redis-server on a free 127.0.0.1 port and returns once it
// answers PING. The server is stopped when the test ends. Start skips the
// test if redis-server is not installed and CI is unset, and fails it if CI
// is set.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := launch(t, t.TempDir(), opts)
	if errors.Is(err, ErrNoBinary) {
		if inCI() {
			t.Fatalf("%v; it is required when CI is set", err)
		}
		t.Skipf("%v; skipping (set CI=true to make this a failure)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Launch is Start for a program that is not a test: the server's working
// directory is dir (which must exist), errors are returned, and the
// caller stops the server with Close (it also dies with the caller's
// process). Stop, Kill, Start and Restart are for a test's server only.
func Launch(dir string, opts ...Option) (*Server, error) {
	return launch(nil, dir, opts)
}

func launch(t testing.TB, dir string, opts []Option) (*Server, error) {
	bin := findBinary()
	if bin == "" {
		return nil, ErrNoBinary
	}
	s := &Server{t: t, bin: bin, dir: dir}
	for _, o := range opts {
		o(&s.opts)
	}
	if t != nil {
		t.Cleanup(s.cleanup)
	}
	// A free port can be taken by someone else between Listen and the
	// server's bind; retry with a new port a few times.
	var err error
	for range 5 {
		s.port, err = freePort()
		if err == nil && s.opts.clusterNodeTimeout > 0 {
			s.bus, err = freePort()
		}
		if err != nil {
			return nil, fmt.Errorf("redistest: find a free port: %w", err)
		}
		if err = s.start(); err == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("redistest: start redis-server: %w", err)
}

// Close kills the server (a server from Launch; a test's server is
// stopped when the test ends). Closing a stopped server does nothing.
func (s *Server) Close() error { return s.signal(syscall.SIGKILL) }

// Addr is the server's host:port (127.0.0.1:port); it stays the same across
// Stop and Start.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL is a redis:// URL for database 0 of this server.
func (s *Server) URL() string {
	return "redis://" + s.Addr() + "/0"
}

// Dir is the server's working directory (where the append-only file lives).
func (s *Server) Dir() string { return s.dir }

// Running reports whether the process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Stop shuts the server down gracefully (SIGTERM; with persistence the
// append-only file is flushed) and waits for the process to exit. Stopping a
// stopped server does nothing.
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.signal(syscall.SIGTERM); err != nil {
		s.t.Fatalf("redistest: stop: %v", err)
	}
}

// Kill ends the server with SIGKILL (a crash: no shutdown work) and waits for
// the process to exit.
func (s *Server) Kill() {
	s.t.Helper()
	if err := s.signal(syscall.SIGKILL); err != nil {
		s.t.Fatalf("redistest: kill: %v", err)
	}
}

// Start starts a stopped server again on the same port and directory and
// waits until it answers PING (after loading its data, with persistence).
// Starting a running server fails the test.
func (s *Server) Start() {
	s.t.Helper()
	if s.Running() {
		s.t.Fatalf("redistest: Start called on a running server")
	}
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restart redis-server: %v", err)
	}
}

// Restart is Stop followed by Start.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

func (s *Server) start() error {
	if s.opts.sentinelConf != "" {
		return s.run(s.sentinelArgs())
	}
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--daemonize", "no",
		"--protected-mode", "yes",
		"--logfile", s.logPath(),
		"--save", "",
	}
	if s.opts.persistent {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if s.opts.clusterNodeTimeout > 0 {
		args = append(args,
			"--cluster-enabled", "yes",
			"--cluster-port", strconv.Itoa(s.bus),
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.FormatInt(s.opts.clusterNodeTimeout.Milliseconds(), 10),
		)
	}
	args = append(args, s.opts.extraArgs...)
	return s.run(args)
}

// sentinelArgs writes the sentinel's configuration file on first start
// (Sentinel rewrites it with what it learns, and reads it back after a
// restart) and returns the arguments to run it.
func (s *Server) sentinelArgs() []string {
	conf := filepath.Join(s.dir, "sentinel.conf")
	if _, err := os.Stat(conf); err != nil {
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n%s", s.port, s.dir, s.logPath(), s.opts.sentinelConf)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			s.t.Fatalf("redistest: write sentinel.conf: %v", err)
		}
	}
	return []string{conf, "--sentinel"}
}

func (s *Server) run(args []string) error {
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited during start on port %d; log:\n%s", s.port, s.logTail())
		default:
		}
		if err := ping(s.Addr()); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			_ = s.signal(syscall.SIGKILL)
			return fmt.Errorf("redis-server on port %d did not answer PING within %v (%v); log:\n%s", s.port, startTimeout, err, s.logTail())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("redis-server did not exit within %v after %v; killed", stopTimeout, sig)
	}
}

func (s *Server) cleanup() {
	if err := s.signal(syscall.SIGKILL); err != nil {
		s.t.Errorf("redistest: cleanup: %v", err)
	}
}

func (s *Server) logPath() string { return filepath.Join(s.dir, "redis.log") }

func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// ping sends one PING and expects +PONG or -NOAUTH (a server still loading
// its data answers -LOADING, which is an error here).
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	// -NOAUTH: a server with requirepass is up, it wants a password.
	if line = strings.TrimSpace(line); line != "+PONG" && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func findBinary() string {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	if st, err := os.Stat(DefaultBinary); err == nil && !st.IsDir() {
		return DefaultBinary
	}
	return ""
}

func inCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "0" && v != "false"
}
