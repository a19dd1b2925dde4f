package deploy

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, COPY, …
	Args string
	Line int
}

// flags returns the --name=value flags at the start of the arguments and
// the remaining words.
func (in instruction) flags() (map[string]string, []string) {
	fl := map[string]string{}
	words := strings.Fields(in.Args)
	for len(words) > 0 && strings.HasPrefix(words[0], "--") {
		k, v, _ := strings.Cut(strings.TrimPrefix(words[0], "--"), "=")
		fl[k] = v
		words = words[1:]
	}
	return fl, words
}

// stage is one FROM and the instructions up to the next FROM.
type stage struct {
	Base, Name string
	Body       []instruction
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.Body {
		if in.Cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// env returns the stage's ENV settings (KEY=value form, or legacy KEY value).
func (s stage) env() map[string]string {
	out := map[string]string{}
	for _, in := range s.all("ENV") {
		words := strings.Fields(in.Args)
		if len(words) > 0 && !strings.Contains(words[0], "=") {
			out[words[0]] = strings.Join(words[1:], " ")
			continue
		}
		for _, w := range words {
			k, v, _ := strings.Cut(w, "=")
			out[k] = strings.Trim(v, `"'`)
		}
	}
	return out
}

// parseDockerfile splits a Dockerfile into stages. It knows what these
// Dockerfiles use: comments, line continuations and the shell and JSON
// forms; not heredocs or escape directives.
func parseDockerfile(t *testing.T, rel string) []stage {
	t.Helper()
	var ins []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(readFile(t, filepath.Join(repoRoot(t), rel)), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		cont := strings.HasSuffix(trimmed, `\`)
		cur.WriteString(strings.TrimSuffix(trimmed, `\`))
		cur.WriteString(" ")
		if cont {
			continue
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		ins = append(ins, instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("%s: ends inside a continued line", rel)
	}
	var stages []stage
	for _, in := range ins {
		if in.Cmd == "FROM" {
			_, words := in.flags()
			st := stage{Base: words[0]}
			if len(words) == 3 && strings.EqualFold(words[1], "AS") {
				st.Name = words[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("%s:%d: %s before the first FROM", rel, in.Line, in.Cmd)
		}
		stages[len(stages)-1].Body = append(stages[len(stages)-1].Body, in)
	}
	if len(stages) == 0 {
		t.Fatalf("%s: no FROM", rel)
	}
	return stages
}

var leadingFlags = regexp.MustCompile(`^(--\S+\s+)*`)

// copyArgs returns the --from stage, the sources and the destination of a
// COPY.
func copyArgs(t *testing.T, in instruction) (from string, srcs []string, dest string) {
	t.Helper()
	fl, words := in.flags()
	if rest := leadingFlags.ReplaceAllString(in.Args, ""); strings.HasPrefix(rest, "[") {
		words = nil
		if err := json.Unmarshal([]byte(rest), &words); err != nil {
			t.Fatalf("line %d: COPY %s: %v", in.Line, in.Args, err)
		}
	}
	if len(words) < 2 {
		t.Fatalf("line %d: COPY needs a source and a destination: %q", in.Line, in.Args)
	}
	return fl["from"], words[:len(words)-1], words[len(words)-1]
}

// execForm decodes a JSON-array (exec form) argument, e.g. of ENTRYPOINT.
func execForm(t *testing.T, args string) []string {
	t.Helper()
	var out []string
	if err := json.Unmarshal([]byte(args), &out); err != nil {
		t.Errorf("%q is not in exec (JSON array) form: %v", args, err)
	}
	return out
}

func TestBFFImageIsStaticAndNonRoot(t *testing.T) {
	stages := parseDockerfile(t, "backend/Dockerfile")
	final := stages[len(stages)-1]

	// Non-root: a USER that isn't root, or a :nonroot base and no USER
	// switching back to root.
	user := ""
	if us := final.all("USER"); len(us) > 0 {
		user = strings.TrimSpace(us[len(us)-1].Args)
	}
	name, _, _ := strings.Cut(user, ":")
	switch {
	case user != "" && (name == "root" || name == "0"):
		t.Errorf("final stage runs as %q", user)
	case user == "" && !strings.Contains(final.Base, ":nonroot"):
		t.Errorf("final stage (FROM %s) sets no USER and its base is not a :nonroot image", final.Base)
	}
	if !strings.HasPrefix(final.Base, "gcr.io/distroless/static") && final.Base != "scratch" {
		t.Errorf("final stage FROM %s, want distroless/static or scratch (a static binary needs no OS)", final.Base)
	}

	// The binary is built static from ./backend/cmd/bff and copied in.
	var build *stage
	for i := range stages[:len(stages)-1] {
		for _, run := range stages[i].all("RUN") {
			if strings.Contains(run.Args, "go build") {
				build = &stages[i]
				for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./backend/cmd/bff"} {
					if !strings.Contains(run.Args, want) {
						t.Errorf("line %d: go build without %s", run.Line, want)
					}
				}
			}
		}
	}
	if build == nil {
		t.Fatal("no stage runs go build")
	}
	if st, err := os.Stat(filepath.Join(repoRoot(t), "backend", "cmd", "bff")); err != nil || !st.IsDir() {
		t.Error("backend/Dockerfile builds ./backend/cmd/bff, which does not exist")
	}
	copied := false
	for _, c := range final.all("COPY") {
		if from, _, dest := copyArgs(t, c); from == build.Name && dest == "/bff" {
			copied = true
		}
	}
	if !copied {
		t.Errorf("final stage does not COPY --from=%s the binary to /bff", build.Name)
	}

	if eps := final.all("ENTRYPOINT"); len(eps) != 1 || !slices.Equal(execForm(t, eps[0].Args), []string{"/bff"}) {
		t.Errorf("ENTRYPOINT = %v, want [\"/bff\"] (compose's `command: [dev]` then runs `bff dev`)", eps)
	}
	if hcs := final.all("HEALTHCHECK"); len(hcs) != 1 || !strings.HasSuffix(hcs[0].Args, `CMD ["/bff", "healthcheck"]`) {
		t.Errorf("HEALTHCHECK = %v, want CMD [\"/bff\", \"healthcheck\"]", hcs)
	}
}

func TestSPAImageServesTheBuild(t *testing.T) {
	stages := parseDockerfile(t, "frontend/Dockerfile")
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.Base, "nginx:") || !strings.HasSuffix(final.Base, "-alpine") {
		t.Errorf("final stage FROM %s, want a pinned nginx:<version>-alpine", final.Base)
	}
	var runs []string
	for _, st := range stages[:len(stages)-1] {
		for _, r := range st.all("RUN") {
			runs = append(runs, r.Args)
		}
	}
	for _, want := range []string{"npm ci", "npm run build"} {
		if !slices.ContainsFunc(runs, func(r string) bool { return strings.Contains(r, want) }) {
			t.Errorf("no build stage runs %q", want)
		}
	}

	// dist/ lands where the template's root points.
	root := regexp.MustCompile(`(?m)^\s*root\s+(\S+);`).FindStringSubmatch(readFile(t, filepath.Join(repoRoot(t), "frontend/nginx/default.conf.template")))
	if root == nil {
		t.Fatal("default.conf.template sets no root")
	}
	served := false
	for _, c := range final.all("COPY") {
		from, srcs, dest := copyArgs(t, c)
		if from != "" && len(srcs) == 1 && path.Base(path.Clean(srcs[0])) == "dist" && path.Clean(dest) == root[1] {
			served = true
		}
	}
	if !served {
		t.Errorf("final stage does not copy the built dist/ into %s", root[1])
	}

	sets := templateSets(t)
	if files := sets[defaultTemplateDir]; !slices.Equal(baseNames(files), []string{"default.conf.template"}) {
		t.Errorf("%s holds %v, want only default.conf.template", defaultTemplateDir, files)
	}
	if filter := final.env()["NGINX_ENVSUBST_FILTER"]; filter == "" {
		t.Error("no NGINX_ENVSUBST_FILTER: envsubst would replace every $name that is an environment variable")
	}
}

func TestDockerfilesCopyOnlyWhatTheContextHolds(t *testing.T) {
	root := repoRoot(t)
	rules := parseDockerignore(t)
	for _, df := range []string{"backend/Dockerfile", "frontend/Dockerfile"} {
		for _, st := range parseDockerfile(t, df) {
			for _, c := range st.all("COPY") {
				from, srcs, _ := copyArgs(t, c)
				if from != "" {
					continue
				}
				for _, src := range srcs {
					rel := path.Clean(src)
					if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel))); err != nil {
						t.Errorf("%s:%d: COPY %s: not in the repository", df, c.Line, src)
					}
					if ignored(rules, rel) {
						t.Errorf("%s:%d: COPY %s: excluded by .dockerignore", df, c.Line, src)
					}
				}
			}
		}
	}

	// What must never reach a build context.
	for _, p := range []string{".env", "backend/.env", "frontend/.env.local", ".git/config", "frontend/node_modules/react/index.js", "frontend/dist/index.html", "backend/internal/deploy/compose_test.go", "bin/bff"} {
		if !ignored(rules, p) {
			t.Errorf(".dockerignore lets %s into the build context", p)
		}
	}
}

type ignoreRule struct {
	pattern string
	negate  bool
}

func parseDockerignore(t *testing.T) []ignoreRule {
	t.Helper()
	var rules []ignoreRule
	for _, line := range strings.Split(readFile(t, filepath.Join(repoRoot(t), ".dockerignore")), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if r.negate = strings.HasPrefix(line, "!"); r.negate {
			line = line[1:]
		}
		r.pattern = strings.TrimPrefix(path.Clean(line), "/")
		rules = append(rules, r)
	}
	return rules
}

// ignored applies .dockerignore's rules as Docker does: the last rule that
// matches the path, or one of its parent directories, decides.
func ignored(rules []ignoreRule, rel string) bool {
	out := false
	for _, r := range rules {
		for p := rel; ; p = path.Dir(p) {
			if globMatch(strings.Split(r.pattern, "/"), strings.Split(p, "/")) {
				out = !r.negate
				break
			}
			if !strings.Contains(p, "/") {
				break
			}
		}
	}
	return out
}

// globMatch matches path segments against pattern segments, where "**"
// stands for any number of segments.
func globMatch(pat, segs []string) bool {
	if len(pat) == 0 {
		return len(segs) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(segs); i++ {
			if globMatch(pat[1:], segs[i:]) {
				return true
			}
		}
		return false
	}
	if len(segs) == 0 {
		return false
	}
	ok, err := path.Match(pat[0], segs[0])
	return err == nil && ok && globMatch(pat[1:], segs[1:])
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = path.Base(p)
	}
	slices.Sort(out)
	return out
}
