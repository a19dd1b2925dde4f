package deploy

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

var nginxServices = []string{"spa", "spa-offline"}

// inNetworkHosts returns overrides that replace, in a service's host:port
// variables, the names that resolve only inside the compose network (its
// own hostname, other services) with 127.0.0.1, so nginx can resolve them
// here.
func inNetworkHosts(p *types.Project, s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for k, v := range s.Environment {
		if v == nil {
			continue
		}
		host, port, err := net.SplitHostPort(*v)
		if err != nil {
			continue
		}
		if _, isService := p.Services[host]; host == s.Hostname || isService {
			out[k] = net.JoinHostPort("127.0.0.1", port)
		}
	}
	return out
}

func TestNginxConfigsPassNginxT(t *testing.T) {
	nginxBinary(t)
	p := loadProject(t, withEnv(envExample(t), filledSecrets), "*")
	for _, name := range nginxServices {
		t.Run(name, func(t *testing.T) {
			s := service(t, p, name)
			conf := nginxPrefix(t, serviceConfs(t, s, inNetworkHosts(p, s)), "")
			nginxTest(t, conf)
		})
	}
}

// stubBFF answers like the BFF would, and records what nginx forwarded.
type stubBFF struct {
	*httptest.Server
	release chan struct{} // lets /api/proxy/stream finish
	gotBody chan string   // what /api/proxy/upload read before the client finished
	wrote   chan int64    // how much /api/proxy/large managed to write
}

// largeBody is more than the socket buffers between the stub, nginx and the
// client can hold (a few MiB each on loopback), so only an nginx that spools
// the response to disk lets the stub write it all to a client that reads
// nothing.
const largeBody = 64 << 20

func newStubBFF(t *testing.T) *stubBFF {
	t.Helper()
	s := &stubBFF{release: make(chan struct{}), gotBody: make(chan string, 1), wrote: make(chan int64, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/me", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"host": r.Host, "xff": r.Header.Get("X-Forwarded-For"), "proto": r.Header.Get("X-Forwarded-Proto"),
			"xfh": r.Header.Get("X-Forwarded-Host"), "origin": r.Header.Get("Origin"), "csrf": r.Header.Get("X-CSRF"),
		})
	})
	mux.HandleFunc("/auth/sign-in", func(w http.ResponseWriter, r *http.Request) {
		// Longer than nginx's default proxy buffer (one page).
		http.SetCookie(w, &http.Cookie{Name: "bff-signin", Value: strings.Repeat("s", 200), HttpOnly: true})
		w.Header().Set("Location", "http://localhost:3001/oidc/auth?state="+strings.Repeat("x", 9000))
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("/auth/sign-out", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusSeeOther)
	})
	mux.HandleFunc("/api/proxy/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-s.release:
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		_, _ = io.WriteString(w, "data: second\n\n")
	})
	mux.HandleFunc("/api/proxy/upload", func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, len("part-one"))
		if _, err := io.ReadFull(r.Body, buf); err == nil {
			s.gotBody <- string(buf)
		}
		rest, _ := io.ReadAll(r.Body)
		_, _ = w.Write(append(buf, rest...))
	})
	mux.HandleFunc("/api/proxy/large", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(largeBody))
		chunk := make([]byte, 64<<10)
		var n int64
		for n < largeBody {
			m, err := w.Write(chunk)
			n += int64(m)
			if err != nil {
				break
			}
		}
		s.wrote <- n
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// spaNginx starts the spa service's nginx on a free loopback port, serving
// a fake build from www and proxying to bff; it returns the base URL.
func spaNginx(t *testing.T, bff *stubBFF) string {
	t.Helper()
	www := t.TempDir()
	files := map[string]string{
		"index.html":           "<!doctype html><title>spa</title>",
		"favicon.svg":          "<svg xmlns='http://www.w3.org/2000/svg'/>",
		"assets/app-3f9a1c.js": "console.log('app');",
	}
	for name, body := range files {
		p := filepath.Join(www, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := loadProject(t, withEnv(envExample(t), filledSecrets))
	confs := serviceConfs(t, service(t, p, "spa"), map[string]string{
		"NGINX_BFF_UPSTREAM": strings.TrimPrefix(bff.URL, "http://"),
	})
	addr := freeAddr(t)
	c := confs["default.conf"]
	c = replaceOnce(t, c, defaultListen, "${1}"+addr+"${3}")
	c = replaceOnce(t, c, regexp.MustCompile(`(?m)^(\s*root\s+)/usr/share/nginx/html;`), "${1}"+www+";")
	confs["default.conf"] = c
	startNginx(t, nginxPrefix(t, confs, "daemon off;\nmaster_process off;"), addr)
	return "http://" + addr
}

func TestNginxServesTheSPAAndProxiesTheBFF(t *testing.T) {
	nginxBinary(t)
	bff := newStubBFF(t)
	base := spaNginx(t, bff)
	client := &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	get := func(t *testing.T, path string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	t.Run("static files", func(t *testing.T) {
		tests := []struct {
			path, wantBody, wantCache string
			wantStatus                int
		}{
			{"/", "<!doctype html><title>spa</title>", "no-cache", 200},
			{"/profile/settings", "<!doctype html><title>spa</title>", "no-cache", 200}, // SPA route
			{"/favicon.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>", "no-cache", 200},
			{"/assets/app-3f9a1c.js", "console.log('app');", "public, max-age=31536000, immutable", 200},
			{"/assets/gone-0000.js", "", "public, max-age=31536000, immutable", 404}, // never index.html
		}
		for _, tt := range tests {
			resp, body := get(t, tt.path, nil)
			if resp.StatusCode != tt.wantStatus || (tt.wantBody != "" && body != tt.wantBody) {
				t.Errorf("GET %s = %d %q, want %d %q", tt.path, resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.wantCache {
				t.Errorf("GET %s: Cache-Control %q, want %q", tt.path, got, tt.wantCache)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("GET %s: X-Content-Type-Options %q, want nosniff", tt.path, got)
			}
			if got := resp.Header.Get("Server"); got != "nginx" {
				t.Errorf("GET %s: Server %q, want nginx without a version", tt.path, got)
			}
		}
		resp, _ := get(t, "/", nil)
		for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("GET /: no %s", h)
			}
		}
	})

	t.Run("api headers", func(t *testing.T) {
		resp, body := get(t, "/api/me", map[string]string{
			"X-CSRF": "1", "Origin": base, "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
		})
		var got map[string]string
		if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /api/me = %d %q", resp.StatusCode, body)
		}
		host := strings.TrimPrefix(base, "http://")
		want := map[string]string{"host": host, "xff": "127.0.0.1", "proto": "http", "xfh": host, "origin": base, "csrf": "1"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("the BFF saw %s = %q, want %q", k, got[k], v)
			}
		}
		// The BFF's own headers pass as they are; the static ones aren't added.
		if cc := resp.Header.Values("Cache-Control"); len(cc) != 1 || cc[0] != "no-store" {
			t.Errorf("GET /api/me: Cache-Control %q, want only the BFF's no-store", cc)
		}
		if resp.Header.Get("Content-Security-Policy") != "" {
			t.Error("GET /api/me: nginx added the SPA's Content-Security-Policy")
		}
		if resp, body := get(t, "/healthz", nil); resp.StatusCode != 200 || body != `{"status":"ok"}` {
			t.Errorf("GET /healthz = %d %q, want the BFF's answer", resp.StatusCode, body)
		}
	})

	t.Run("long redirect to the identity provider", func(t *testing.T) {
		resp, _ := get(t, "/auth/sign-in?returnTo=/profile", nil)
		if resp.StatusCode != http.StatusFound || len(resp.Header.Get("Location")) < 9000 || len(resp.Cookies()) != 1 {
			t.Errorf("GET /auth/sign-in = %d, Location %d bytes, %d cookies; want the BFF's 302 intact", resp.StatusCode, len(resp.Header.Get("Location")), len(resp.Cookies()))
		}
	})

	t.Run("bounded requests", func(t *testing.T) {
		if resp, _ := get(t, "/api/me", map[string]string{"X-Big": strings.Repeat("a", 20<<10)}); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a 20 KiB header line: %d, want 400", resp.StatusCode)
		}
		resp, err := client.Post(base+"/auth/sign-out", "application/x-www-form-urlencoded", strings.NewReader(strings.Repeat("a", 100<<10)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("a 100 KiB sign-out form: %d, want 413", resp.StatusCode)
		}
	})

	t.Run("api proxy streams responses", func(t *testing.T) {
		resp, err := client.Get(base + "/api/proxy/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		first := make(chan string, 1)
		br := bufio.NewReader(resp.Body)
		go func() {
			line, _ := br.ReadString('\n')
			first <- line
		}()
		select {
		case line := <-first:
			if line != "data: first\n" {
				t.Errorf("first line %q", line)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("the first event did not arrive before the upstream finished: nginx buffers /api/proxy/")
		}
		close(bff.release)
		rest, _ := io.ReadAll(br)
		if !strings.Contains(string(rest), "data: second") {
			t.Errorf("rest of the stream %q", rest)
		}
	})

	t.Run("api proxy passes back-pressure", func(t *testing.T) {
		resp, err := client.Get(base + "/api/proxy/large")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		// The client reads nothing: the stub must stay blocked.
		select {
		case n := <-bff.wrote:
			t.Fatalf("the upstream wrote all %d bytes to a client that read none: nginx buffers /api/proxy/ responses", n)
		case <-time.After(time.Second):
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		if n != largeBody || <-bff.wrote != largeBody {
			t.Errorf("read %d bytes, want %d", n, largeBody)
		}
	})

	t.Run("api proxy streams request bodies", func(t *testing.T) {
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			resp, err := client.Post(base+"/api/proxy/upload", "application/octet-stream", pr)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		if _, err := pw.Write([]byte("part-one")); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-bff.gotBody:
			if got != "part-one" {
				t.Errorf("upstream read %q", got)
			}
		case <-time.After(3 * time.Second):
			t.Error("the upstream got nothing before the body ended: nginx spools /api/proxy/ uploads")
		}
		_, _ = pw.Write([]byte("part-two"))
		pw.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// TestNginxExposesTheDevIdentityProvider: in the offline profile the
// browser's http://localhost:3001 reaches bff dev's provider through nginx
// with the request unchanged, so the issuer is the same on both sides.
func TestNginxExposesTheDevIdentityProvider(t *testing.T) {
	nginxBinary(t)
	type seen struct{ host, uri string }
	got := make(chan seen, 1)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Host, r.RequestURI}
		w.Header().Set("Location", "http://localhost:8080/auth/callback?code=c&state=s&iss=http%3A%2F%2Flocalhost%3A3001%2Foidc")
		w.WriteHeader(http.StatusSeeOther)
	}))
	t.Cleanup(idp.Close)

	p := loadProject(t, map[string]string{}, profileOffline)
	idpAddr := freeAddr(t)
	confs := serviceConfs(t, service(t, p, "spa-offline"), map[string]string{
		"NGINX_DEV_IDP_LISTEN":   idpAddr,
		"NGINX_DEV_IDP_UPSTREAM": strings.TrimPrefix(idp.URL, "http://"),
	})
	if _, ok := confs["dev-idp.conf"]; !ok {
		t.Fatalf("spa-offline renders %v, want dev-idp.conf among them", sortedKeys(confs))
	}
	confs["default.conf"] = replaceOnce(t, confs["default.conf"], defaultListen, "${1}"+freeAddr(t)+"${3}")
	startNginx(t, nginxPrefix(t, confs, "daemon off;\nmaster_process off;"), idpAddr)

	req, err := http.NewRequest(http.MethodGet, "http://"+idpAddr+"/oidc/auth?client_id=bff&state=s", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "localhost:3001"
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case s := <-got:
		if s.host != "localhost:3001" || s.uri != "/oidc/auth?client_id=bff&state=s" {
			t.Errorf("the provider saw Host %q, URI %q; want localhost:3001 and the request unchanged", s.host, s.uri)
		}
	default:
		t.Fatal("the request did not reach the provider")
	}
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "http://localhost:8080/auth/callback?") {
		t.Errorf("response %d Location %q, want the provider's redirect unchanged", resp.StatusCode, loc)
	}
}
