package devidp

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// backchannelEvent is the events member of a logout token.
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// logoutTarget is one back-channel logout owed to a client.
type logoutTarget struct{ clientID, uri, sub, sid string }

// logoutTokenClaims builds a logout token exactly like Logto's: iss, aud,
// iat, jti, sub, events, and sid when the client requires it; no exp (Logto
// sends none) and never a nonce.
func (p *Provider) logoutTokenClaims(t logoutTarget) map[string]any {
	c := map[string]any{
		"iss": p.issuer, "aud": t.clientID, "iat": p.now().Unix(), "jti": randomToken(16)[:21],
		"sub": t.sub, "events": map[string]any{backchannelEvent: map[string]any{}},
	}
	if t.sid != "" {
		c["sid"] = t.sid
	}
	return c
}

// deliverBackchannel POSTs a logout_token form to each target, one after the
// other, and counts each as delivered (2xx) or failed. It runs even if the
// browser request that caused it goes away.
func (p *Provider) deliverBackchannel(ctx context.Context, targets []logoutTarget) {
	ctx = context.WithoutCancel(ctx)
	for _, t := range targets {
		ok := p.deliverOne(ctx, t)
		p.mu.Lock()
		if ok {
			p.stats.BackchannelDelivered++
		} else {
			p.stats.BackchannelFailed++
		}
		p.mu.Unlock()
	}
}

func (p *Provider) deliverOne(ctx context.Context, t logoutTarget) bool {
	token, err := p.keys.sign(typLogout, p.logoutTokenClaims(t))
	if err != nil {
		p.log.Error("devidp: sign logout token", "err", err)
		return false
	}
	body := url.Values{"logout_token": {token}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.uri, strings.NewReader(body))
	if err != nil {
		p.log.Error("devidp: back-channel logout request", "client_id", t.clientID, "err", err)
		return false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.httpClient.Do(req)
	if err != nil {
		p.log.Warn("devidp: back-channel logout not delivered", "client_id", t.clientID, "err", err)
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		p.log.Warn("devidp: back-channel logout refused", "client_id", t.clientID, "status", resp.StatusCode)
		return false
	}
	p.log.Info("devidp: back-channel logout delivered", "client_id", t.clientID, "status", resp.StatusCode)
	return true
}
