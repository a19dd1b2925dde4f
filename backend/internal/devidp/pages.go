package devidp

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageSet holds one parsed template per page, each with the shared layout.
type pageSet struct{ pages map[string]*template.Template }

var pageNames = []string{"signin", "register", "discord", "error", "logout", "logout_done"}

func parsePages() (*pageSet, error) {
	ps := &pageSet{pages: map[string]*template.Template{}}
	for _, n := range pageNames {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", n, err)
		}
		ps.pages[n] = t
	}
	return ps, nil
}

// pageData is everything any page shows; each page uses its own fields.
type pageData struct {
	Title, Lang, AppName, Error, Message string
	Action                               string
	// sign-in
	Identifier, IdentifierLabel, RegisterURL, SignInURL, DiscordURL string
	// register
	Username, Name, Email string
	FieldErrors           map[string]string
	// discord
	DiscordName string
	// sign-out
	XSRF string
}

// render writes a page with security headers. Pages are never cached and
// never framed.
func (p *Provider) render(w http.ResponseWriter, status int, page string, d pageData) {
	if d.Lang == "" {
		d.Lang = "en"
	}
	var buf bytes.Buffer
	if err := p.pages.pages[page].ExecuteTemplate(&buf, "layout", d); err != nil {
		p.log.Error("devidp: render page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderError shows an HTML error page; it never redirects anywhere.
func (p *Provider) renderError(w http.ResponseWriter, status int, title, message string) {
	p.render(w, status, "error", pageData{Title: title, Message: message})
}
