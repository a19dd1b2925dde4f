package reliability

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The scan itself must be able to fail: plant each kind of leak in a log
// and check it is reported, by kind and line, without the value.
func TestSecretScanFindsPlantedLeaks(t *testing.T) {
	dir := t.TempDir()
	jwt := "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsIm5vbmNlIjoieCJ9.c2lnbmF0dXJlLW9mLXRoaXMtdG9rZW4tb25seS1hYmNkZWZnaGlq"
	opaque := "Qm9ndXNPcGFxdWVBY2Nlc3NUb2tlblZhbHVlMTIzNDU2Nzg"
	sec := newSecrets()
	sec.add("token", jwt)
	sec.add("token", opaque)
	sec.add("client secret", "client-secret-0123456789abcdef")
	sec.add("too short", "abc") // ignored: would match by accident

	clean := filepath.Join(dir, "clean.log")
	leaky := filepath.Join(dir, "leaky.log")
	_ = os.WriteFile(clean, []byte(`{"msg":"request","route":"/api/me","status":200}`+"\n"), 0o600)
	_ = os.WriteFile(leaky, []byte(strings.Join([]string{
		`{"msg":"ok"}`,
		`{"msg":"refresh failed","error":"token ` + opaque + ` rejected"}`,
		`{"msg":"truncated","v":"` + jwt[len(jwt)-30:] + `"}`,
		`{"msg":"abc"}`,
	}, "\n")+"\n"), 0o600)

	if leaks, _ := findLeaks(sec, []string{clean}); len(leaks) != 0 {
		t.Errorf("clean log reported: %q", leaks)
	}
	leaks, summary := findLeaks(sec, []string{clean, leaky})
	// The opaque token is found whole and by its fragment, the truncated
	// JWT by its fragment only.
	if len(leaks) != 3 {
		t.Fatalf("want 3 findings (opaque token and its fragment on line 2, JWT fragment on line 3), got %q", leaks)
	}
	joined := strings.Join(leaks, "\n")
	for _, want := range []string{"a token appears in " + leaky + " line 2", "a token (fragment) appears in " + leaky + " line 3"} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %q in %q", want, joined)
		}
	}
	if strings.Contains(joined, opaque) || strings.Contains(joined, jwt[len(jwt)-24:len(jwt)-4]) {
		t.Error("the report repeats a secret")
	}
	if !strings.Contains(summary, "3 secrets") {
		t.Errorf("summary %q", summary)
	}

	// Session ids are recovered from signed cookies.
	if id, ok := sessionIDFromCookie("MTcwMDAwMDAwMHxJbk5sYzNOcGIyNHRhV1FpfGJvZ3VzLW1hYw=="); !ok || id != "session-id" {
		t.Errorf("sessionIDFromCookie = %q %v", id, ok)
	}
}
