package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/logto-bff/bff/backend/internal/session"
)

// Cache policies of the SPA's files. Vite puts content-hashed files under
// /assets/, so they never change; index.html must be revalidated so a new
// deploy is picked up.
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// spaFiles serves a built SPA from a directory, confined to it by os.Root
// (no "..", no symlink escapes).
type spaFiles struct {
	root *os.Root
}

func openSPA(dir string) (*spaFiles, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("httpapi: SPA directory: %w", err)
	}
	if st, err := root.Stat("index.html"); err != nil || !st.Mode().IsRegular() {
		root.Close()
		return nil, errors.New("httpapi: SPA directory has no index.html")
	}
	return &spaFiles{root: root}, nil
}

// serve answers GET/HEAD for a path outside /api and /auth: the file if it
// exists, 404 for a missing asset or file name, else index.html (client-side
// routes).
func (f *spaFiles) serve(c *gin.Context) {
	name := strings.TrimPrefix(path.Clean("/"+c.Request.URL.Path), "/")
	if name == "" || name == "index.html" {
		f.serveFile(c, "index.html", cacheRevalidate)
		return
	}
	if f.isFile(name) {
		cache := cacheRevalidate
		if strings.HasPrefix(name, "assets/") {
			cache = cacheImmutable
		}
		f.serveFile(c, name, cache)
		return
	}
	if strings.HasPrefix(name, "assets/") || strings.Contains(path.Base(name), ".") {
		fail(c, errNotFound)
		return
	}
	f.serveFile(c, "index.html", cacheRevalidate)
}

// isFile reports whether name is a regular, non-hidden file in the root.
func (f *spaFiles) isFile(name string) bool {
	for _, seg := range strings.Split(name, "/") {
		if strings.HasPrefix(seg, ".") {
			return false
		}
	}
	st, err := f.root.Stat(name)
	return err == nil && st.Mode().IsRegular()
}

func (f *spaFiles) serveFile(c *gin.Context, name, cache string) {
	file, err := f.root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			fail(c, errNotFound)
			return
		}
		fail(c, err)
		return
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil || !st.Mode().IsRegular() {
		fail(c, errNotFound)
		return
	}
	c.Header("Cache-Control", cache)
	http.ServeContent(c.Writer, c.Request, name, st.ModTime(), file)
}

// landing is served at / when no SPA is configured (e.g. `bff dev` without
// BFF_SPA_DIR): who is signed in, and links to sign in or out.
func (s *server) landing(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	d := pageData{Title: "Logto BFF", Message: "No SPA is configured (set BFF_SPA_DIR to serve one). The API is at /api/me."}
	if code := c.Query("authError"); code != "" {
		d.Message = "Sign-in did not complete."
		d.Code = code
	}
	sess, err := s.sessions.Load(c.Writer, c.Request)
	switch {
	case err == nil:
		d.SignedIn = displayName(sess)
	case errors.Is(err, session.ErrNoSession):
		d.Links = []pageLink{
			{Href: "/auth/sign-in", Text: "Sign in"},
			{Href: "/auth/sign-in?firstScreen=register", Text: "Create an account"},
			{Href: "/auth/sign-in?directSignIn=social:discord", Text: "Sign in with Discord"},
		}
	default:
		_ = c.Error(err)
		d.Message = errorFor(err).Description
	}
	renderPage(c, http.StatusOK, d)
}

// displayName picks a name to show from the rendered user.
func displayName(sess *session.Session) string {
	var u struct {
		Name, Username, Email *string
		Sub                   string
	}
	_ = json.Unmarshal(sess.Me, &u)
	for _, v := range []*string{u.Name, u.Username, u.Email} {
		if v != nil && *v != "" {
			return *v
		}
	}
	return u.Sub
}
