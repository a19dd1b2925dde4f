package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"

	"github.com/gin-gonic/gin"
)

// pageStyle is the only style of the BFF's own pages; the page CSP allows
// exactly this block by hash.
const pageStyle = `body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5;color:#222}` +
	`h1{font-size:1.4rem}a,button{font-size:1rem}code{background:#f3f3f3;padding:0 .2rem}`

var pageStyleHash = func() string {
	sum := sha256.Sum256([]byte(pageStyle))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Title}}</title><style>{{.Style}}</style></head>
<body><main>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{if .Code}}<p><small>Error code: <code>{{.Code}}</code></small></p>{{end}}
{{if .SignedIn}}<p>Signed in as <strong>{{.SignedIn}}</strong>.</p>
<form method="post" action="/auth/sign-out"><button type="submit">Sign out</button></form>{{end}}
{{if .SignOutAgain}}<form method="post" action="/auth/sign-out"><button type="submit">Sign out again</button></form>{{end}}
{{range .Links}}<p><a href="{{.Href}}">{{.Text}}</a></p>{{end}}
</main></body></html>
`))

type pageLink struct{ Href, Text string }

type pageData struct {
	Title, Message, Code, SignedIn string
	// SignOutAgain offers a sign-out button (sign-out failed, the browser
	// is still signed in).
	SignOutAgain bool
	Links        []pageLink
	Style        template.CSS
}

// renderPage writes one of the BFF's own HTML pages.
func renderPage(c *gin.Context, status int, d pageData) {
	d.Style = template.CSS(pageStyle)
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, d); err != nil {
		c.Status(http.StatusInternalServerError)
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// renderErrorPage renders e for a browser, with a way forward.
func renderErrorPage(c *gin.Context, e apiError) {
	title := map[int]string{
		http.StatusBadRequest:            "Sign-in could not be completed",
		http.StatusUnauthorized:          "You are not signed in",
		http.StatusForbidden:             "Request refused",
		http.StatusNotFound:              "Page not found",
		http.StatusRequestEntityTooLarge: "Request too large",
		http.StatusServiceUnavailable:    "Temporarily unavailable",
	}[e.Status]
	if title == "" {
		title = "Something went wrong"
	}
	links := []pageLink{{Href: "/", Text: "Back to the application"}}
	if e.retry {
		links = append([]pageLink{{Href: "/auth/sign-in", Text: "Try again"}}, links...)
	}
	renderPage(c, e.Status, pageData{Title: title, Message: e.Description, Code: e.Code, SignOutAgain: e.retrySignOut, Links: links})
}
