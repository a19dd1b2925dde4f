package reliability

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// replica is one bff process in serve mode. Its stdout and stderr go to
// files in the cluster's directory, kept for the secret scan.
type replica struct {
	name       string
	env        map[string]string
	stdoutPath string
	stderrPath string
	cmd        *exec.Cmd
	exited     chan struct{}
	addr       string // 127.0.0.1:port, read from its "listening" log line
	metrics    string // its /metrics listener, from the same line
	dead       atomic.Bool
}

const (
	replicaStartTimeout = 15 * time.Second
	replicaStopTimeout  = 15 * time.Second
)

// startReplica runs the bff binary with exactly env (nothing inherited)
// and waits until it logs that it listens.
func startReplica(t *testing.T, dir, name string, env map[string]string) *replica {
	t.Helper()
	r := &replica{
		name:       name,
		env:        env,
		stdoutPath: filepath.Join(dir, name+".stdout.log"),
		stderrPath: filepath.Join(dir, name+".stderr.log"),
	}
	stdout, err := os.Create(r.stdoutPath)
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(r.stderrPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bffBinary)
	cmd.Env = []string{}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// The process dies with the test binary, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	r.cmd = cmd
	r.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = stdout.Close()
		_ = stderr.Close()
		r.dead.Store(true)
		close(r.exited)
	}()
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("%s stderr (last lines):\n%s", name, tail(r.stderrPath, 25))
		}
	})

	deadline := time.Now().Add(replicaStartTimeout)
	for r.addr == "" {
		select {
		case <-r.exited:
			t.Fatalf("%s exited during start:\n%s", name, tail(r.stderrPath, 40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log \"listening\" within %v:\n%s", name, replicaStartTimeout, tail(r.stderrPath, 40))
		}
		r.addr, r.metrics = listeningAddr(r.stderrPath)
		if r.addr == "" {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return r
}

// listeningAddr finds the addr and metrics addr of the JSON "listening"
// log line.
func listeningAddr(path string) (addr, metrics string) {
	f, err := os.Open(path)
	if err != nil {
		return "", ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg     string `json:"msg"`
			Addr    string `json:"addr"`
			Metrics string `json:"metrics"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" && line.Addr != "" {
			return line.Addr, line.Metrics
		}
	}
	return "", ""
}

func (r *replica) pid() int { return r.cmd.Process.Pid }

// kill ends the process with SIGKILL (a crash) and waits for it.
func (r *replica) kill() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
}

// stop asks for a graceful shutdown (SIGTERM) and waits; SIGKILL after
// replicaStopTimeout. Stopping a dead replica does nothing.
func (r *replica) stop() error {
	select {
	case <-r.exited:
		return nil
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
		return nil
	case <-time.After(replicaStopTimeout):
		r.kill()
		return fmt.Errorf("did not stop within %v of SIGTERM; killed", replicaStopTimeout)
	}
}

// fds and threads count the process's open file descriptors and threads.
func (r *replica) fds() int     { return countDir(fmt.Sprintf("/proc/%d/fd", r.pid())) }
func (r *replica) threads() int { return countDir(fmt.Sprintf("/proc/%d/task", r.pid())) }

func countDir(path string) int {
	ents, err := os.ReadDir(path)
	if err != nil {
		return -1
	}
	return len(ents)
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
