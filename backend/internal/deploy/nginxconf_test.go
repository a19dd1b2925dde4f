package deploy

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// defaultTemplateDir is where the nginx image's entrypoint reads templates
// unless NGINX_ENVSUBST_TEMPLATE_DIR says otherwise.
const defaultTemplateDir = "/etc/nginx/templates"

// templateSets maps each template directory of the SPA image to the
// repository files frontend/Dockerfile copies into it.
func templateSets(t *testing.T) map[string][]string {
	t.Helper()
	stages := parseDockerfile(t, "frontend/Dockerfile")
	out := map[string][]string{}
	for _, c := range stages[len(stages)-1].all("COPY") {
		from, srcs, dest := copyArgs(t, c)
		dir := path.Clean(dest)
		if from != "" || !strings.HasPrefix(dir, defaultTemplateDir) {
			continue
		}
		out[dir] = append(out[dir], srcs...)
	}
	if len(out) == 0 {
		t.Fatal("frontend/Dockerfile copies no template into " + defaultTemplateDir)
	}
	return out
}

// imageEnv returns the ENV of the SPA image's final stage.
func imageEnv(t *testing.T) map[string]string {
	t.Helper()
	stages := parseDockerfile(t, "frontend/Dockerfile")
	return stages[len(stages)-1].env()
}

var shellVar = regexp.MustCompile(`\$(\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))`)

// renderTemplate does what the nginx image's 20-envsubst-on-templates.sh
// does: envsubst of the defined variables whose names match filter, in both
// $NAME and ${NAME} forms, leaving every other $word (nginx's own variables)
// alone. It fails the test on a ${NAME} left over, which nginx would reject
// or, worse, read as one of its own variables.
func renderTemplate(t *testing.T, name, text string, env map[string]string) string {
	t.Helper()
	filter := regexp.MustCompile(env["NGINX_ENVSUBST_FILTER"])
	out := shellVar.ReplaceAllStringFunc(text, func(m string) string {
		sub := shellVar.FindStringSubmatch(m)
		v := sub[2] + sub[3]
		if val, ok := env[v]; ok && filter.MatchString(v) {
			return val
		}
		return m
	})
	for _, m := range regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*\}`).FindAllString(out, -1) {
		t.Errorf("%s: %s is not substituted (not set, or not matched by NGINX_ENVSUBST_FILTER)", name, m)
	}
	return out
}

// serviceConfs renders the templates a compose nginx service gets, as its
// container would: the image's ENV overlaid with the service's environment
// and overrides. The result maps conf.d file names to their text.
func serviceConfs(t *testing.T, s types.ServiceConfig, overrides map[string]string) map[string]string {
	t.Helper()
	env := imageEnv(t)
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	for k, v := range overrides {
		env[k] = v
	}
	dir := defaultTemplateDir
	if d := env["NGINX_ENVSUBST_TEMPLATE_DIR"]; d != "" {
		dir = path.Clean(d)
	}
	srcs := templateSets(t)[dir]
	if len(srcs) == 0 {
		t.Fatalf("%s: the image has no templates in %s", s.Name, dir)
	}
	out := map[string]string{}
	for _, src := range srcs {
		name := strings.TrimSuffix(path.Base(src), ".template")
		out[name] = renderTemplate(t, src, readFile(t, filepath.Join(repoRoot(t), filepath.FromSlash(src))), env)
	}
	return out
}

var defaultListen = regexp.MustCompile(`(?m)^(\s*listen\s+)(\d+)(\s+default_server\s*;)`)

// nginxDefaultServerPort returns the port the SPA's server listens on inside
// its container.
func nginxDefaultServerPort(t *testing.T) int {
	t.Helper()
	m := defaultListen.FindStringSubmatch(readFile(t, filepath.Join(repoRoot(t), "frontend/nginx/default.conf.template")))
	if m == nil {
		t.Fatal("default.conf.template: no `listen <port> default_server;`")
	}
	n, _ := strconv.Atoi(m[2])
	return n
}

// nginxBinary returns the nginx executable. Without one the nginx tests are
// skipped, except in CI (CI=true), which must have it.
func nginxBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("nginx is not installed; `make test` installs it (.ci/test-deps)")
	}
	t.Skip("nginx is not installed")
	return ""
}

// mimeTypes stands in for the image's /etc/nginx/mime.types.
const mimeTypes = `types {
    text/html html;
    text/css css;
    application/javascript js mjs;
    application/json json;
    image/svg+xml svg;
}
`

// nginxPrefix lays out a prefix directory with the rendered conf.d files
// and a main nginx.conf shaped like the image's (mime.types, then
// conf.d/*.conf inside http {}), with every path inside the prefix. It
// returns the path of nginx.conf.
func nginxPrefix(t *testing.T, confs map[string]string, mainExtra string) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "tmp"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "mime.types"), []byte(mimeTypes), 0o644))
	for name, text := range confs {
		must(os.WriteFile(filepath.Join(dir, "conf.d", name), []byte(text), 0o644))
	}
	main := fmt.Sprintf(`%s
worker_processes 1;
error_log stderr warn;
pid %[2]s/nginx.pid;
events { worker_connections 64; }
http {
    include %[2]s/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    keepalive_timeout 65;
    client_body_temp_path %[2]s/tmp/body;
    proxy_temp_path %[2]s/tmp/proxy;
    fastcgi_temp_path %[2]s/tmp/fastcgi;
    uwsgi_temp_path %[2]s/tmp/uwsgi;
    scgi_temp_path %[2]s/tmp/scgi;
    include %[2]s/conf.d/*.conf;
}
`, mainExtra, dir)
	conf := filepath.Join(dir, "nginx.conf")
	must(os.WriteFile(conf, []byte(main), 0o644))
	return conf
}

// nginxTest runs `nginx -t` on a prefix made by nginxPrefix.
func nginxTest(t *testing.T, conf string) {
	t.Helper()
	dir := filepath.Dir(conf)
	out, err := exec.Command(nginxBinary(t), "-t", "-p", dir+"/", "-e", "stderr", "-c", conf).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s\nconfiguration:\n%s", err, out, dumpConfs(dir))
	}
}

// startNginx runs nginx in the foreground on a prefix made by nginxPrefix
// (with `daemon off; master_process off;`), waits until addr accepts
// connections and stops it at cleanup.
func startNginx(t *testing.T, conf, addr string) {
	t.Helper()
	dir := filepath.Dir(conf)
	var stderr bytes.Buffer
	cmd := exec.Command(nginxBinary(t), "-p", dir+"/", "-e", "stderr", "-c", conf)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("nginx stderr:\n%s", stderr.String())
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("nginx exited: %v\n%s", err, stderr.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not accept connections on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dumpConfs(dir string) string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(dir, "conf.d", "*.conf"))
	for _, f := range files {
		text, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(f), text)
	}
	return b.String()
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// replaceOnce replaces the one match of re in s, failing the test when
// there isn't exactly one.
func replaceOnce(t *testing.T, s string, re *regexp.Regexp, repl string) string {
	t.Helper()
	if n := len(re.FindAllStringIndex(s, -1)); n != 1 {
		t.Fatalf("%d matches of %s, want 1", n, re)
	}
	return re.ReplaceAllString(s, repl)
}
