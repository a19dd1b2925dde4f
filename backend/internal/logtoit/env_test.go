package logtoit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/logtoadmin"
)

// logto is the real Logto under test.
type logto struct {
	dir string
	// env is logto.env: LOGTO_ENDPOINT, LOGTO_M2M_APP_ID, ... LOGTO_DB_URL.
	env   map[string]string
	admin *logtoadmin.Client
}

// requireLogto resets the tenant of the Logto in LOGTO_IT_DIR (a fresh
// tenant holding only the M2M app) or skips the test.
func requireLogto(t *testing.T) *logto {
	t.Helper()
	dir := os.Getenv("LOGTO_IT_DIR")
	if dir == "" {
		t.Skip("real-Logto integration tests: set LOGTO_IT_DIR=<reallogto dir, e.g. /work/logto> (make test-logto)")
	}
	start := time.Now()
	out, err := exec.Command(filepath.Join(dir, "reset.sh"), "bare").CombinedOutput()
	if err != nil {
		t.Fatalf("reset.sh bare: %v\n%s", err, out)
	}
	t.Logf("reset.sh bare: %s", time.Since(start).Round(100*time.Millisecond))
	env, err := readEnv(filepath.Join(dir, "logto.env"))
	if err != nil {
		t.Fatal(err)
	}
	return &logto{dir: dir, env: env, admin: logtoadmin.New(logtoadmin.Config{
		Endpoint: env["LOGTO_ENDPOINT"], AppID: env["LOGTO_M2M_APP_ID"], AppSecret: env["LOGTO_M2M_APP_SECRET"],
		Resource: env["LOGTO_MANAGEMENT_RESOURCE"],
	})}
}

func readEnv(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			out[k] = v
		}
	}
	return out, sc.Err()
}

// api calls the Management API with the M2M app's token (for what the
// tests do behind the BFF's back: users, changed URIs, token lifetimes).
func (l *logto) api(t *testing.T, method, path string, in, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tok, err := l.admin.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctx, method, l.env["LOGTO_ENDPOINT"]+"/api"+path, body)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s /api%s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s /api%s: %v", method, path, err)
		}
	}
}

// refreshTokens returns the values of the refresh tokens Logto holds for
// user and app, read from its database (node-oidc-provider stores an opaque
// token under its value).
func (l *logto) refreshTokens(t *testing.T, userID, appID string) []string {
	t.Helper()
	q := fmt.Sprintf("select id from oidc_model_instances where model_name = 'RefreshToken' and payload->>'accountId' = '%s' and payload->>'clientId' = '%s'",
		strings.ReplaceAll(userID, "'", ""), strings.ReplaceAll(appID, "'", ""))
	out, err := exec.Command("psql", l.env["LOGTO_DB_URL"], "-tAc", q).Output()
	if err != nil {
		t.Fatalf("psql: %v", err)
	}
	return strings.Fields(string(out))
}

// freePort returns a loopback port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// binDir holds the bff binary built for this test run.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildBFF builds the bff command once per test binary.
var buildBFF = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "logtoit-bff-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "bff")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/logto-bff/bff/backend/cmd/bff").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func bffBinary(t *testing.T) string {
	t.Helper()
	bin, err := buildBFF()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// environ is os.Environ's PATH and HOME plus env, nothing else (the
// developer's own LOGTO_* must not leak in).
func environ(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// bffCmd runs `bff args...` to completion and returns its output and exit
// status.
func bffCmd(t *testing.T, env map[string]string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bffBinary(t), args...)
	cmd.Env = environ(env)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("bff %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startBFF runs the BFF as a process with env and waits for /healthz.
// It stops (SIGTERM) at cleanup; the returned buffer holds its log.
func startBFF(t *testing.T, env map[string]string, url string) *syncBuffer {
	t.Helper()
	cmd := exec.Command(bffBinary(t))
	cmd.Env = environ(env)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return logs
			}
		}
		select {
		case <-done:
			t.Fatalf("the BFF exited:\n%s", logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the BFF did not answer /healthz:\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
