package reliability

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/logto-bff/bff/backend/internal/config"
	"github.com/logto-bff/bff/backend/internal/devidp"
	"github.com/logto-bff/bff/backend/internal/redistest"
)

// cluster is one test's world: a redis-server, the IdP in this process
// and N bff replicas behind the balancer, with every process's output
// captured and scanned for secrets when the test ends.
type cluster struct {
	t             *testing.T
	dir           string
	redis         *redistest.Server   // the one redis-server (topology "")
	sentinel      *redistest.Sentinel // topology "sentinel"
	rcluster      *redistest.Cluster  // topology "cluster"
	redisURL      string
	idp           *idpServer
	replicas      []*replica
	bal           *balancer
	sec           *secrets
	clientSecret  string
	sessionSecret string
	logs          []string
}

type clusterOptions struct {
	replicas        int
	accessTokenTTL  time.Duration
	users           int // extra password users u000…, besides alice and nelly
	persistentRedis bool
	lenientRefresh  bool
	// topology is "" (one redis-server), topoSentinel or topoCluster.
	topology    string
	maxInFlight int
	// env overrides or adds settings for every replica.
	env map[string]string
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// username and password of generated user i.
func userName(i int) string { return fmt.Sprintf("u%03d", i) }
func userPass(i int) string { return fmt.Sprintf("pw-%03d-%s", i, "reliability") }

func newCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	if o.replicas == 0 {
		o.replicas = 2
	}
	if o.maxInFlight == 0 {
		o.maxInFlight = 32
	}
	c := &cluster{
		t: t, dir: t.TempDir(), sec: newSecrets(),
		clientSecret: randomHex(24), sessionSecret: randomHex(32),
	}
	c.sec.add("client secret", c.clientSecret)
	c.sec.add("session secret", c.sessionSecret)
	// Registered first, so it runs last: after every process has stopped.
	t.Cleanup(c.scanSecrets)

	var ropts []redistest.Option
	if o.persistentRedis {
		ropts = append(ropts, redistest.WithPersistence())
	}
	switch o.topology {
	case topoSentinel:
		c.sentinel = redistest.StartSentinel(t)
		c.redisURL = c.sentinel.URL()
	case topoCluster:
		c.rcluster = redistest.StartCluster(t)
		c.redisURL = c.rcluster.URL()
	default:
		c.redis = redistest.Start(t, ropts...)
		c.redisURL = c.redis.URL()
	}

	users := devidp.DefaultUsers()
	for i := range o.users {
		users = append(users, devidp.User{
			Username: userName(i), Password: userPass(i), Name: "User " + userName(i),
			Email: userName(i) + "@example.test", EmailVerified: true,
		})
	}
	// The balancer is built before the replicas exist (the IdP needs it
	// for back-channel delivery); replicas are filled in below.
	c.bal = newBalancer(nil, c.sec, o.maxInFlight)
	c.idp = startIdP(t, c.dir, c.clientSecret, idpOptions{
		accessTokenTTL: o.accessTokenTTL,
		lenient:        o.lenientRefresh,
		users:          users,
		backchannel:    c.bal,
	})
	c.logs = append(c.logs, c.idp.logPath)

	for i := range o.replicas {
		r := startReplica(t, c.dir, fmt.Sprintf("bff%d", i), c.env(o.env))
		c.replicas = append(c.replicas, r)
		c.logs = append(c.logs, r.stdoutPath, r.stderrPath)
	}
	for _, r := range c.replicas {
		c.bal.replicas = append(c.bal.replicas, r)
		c.bal.bff = append(c.bal.bff, replicaTransport(r))
	}
	t.Cleanup(c.bal.closeIdle)
	c.waitReady(context.Background())
	return c
}

// env is the environment of a replica: production settings (serve mode,
// Redis store, JSON logs at debug level so every log statement runs) on
// loopback, with cookies without Secure because the public URL is http.
func (c *cluster) env(extra map[string]string) map[string]string {
	env := map[string]string{
		config.EnvLogtoEndpoint:      c.idp.endpoint(),
		config.EnvLogtoAppID:         clientID,
		config.EnvLogtoAppSecret:     c.clientSecret,
		config.EnvLogtoScopes:        "openid profile email offline_access",
		config.EnvLogtoResources:     devidp.DefaultResourceIndicator,
		config.EnvPublicURL:          publicURL,
		config.EnvListen:             "127.0.0.1:0",
		config.EnvMetricsListen:      "127.0.0.1:0",
		config.EnvSessionSecret:      c.sessionSecret,
		config.EnvSessionStore:       config.StoreRedis,
		config.EnvRedisURL:           c.redisURL,
		config.EnvCookieSecure:       "false",
		config.EnvLogLevel:           "debug",
		config.EnvLogFormat:          config.LogJSON,
		config.EnvClockSkew:          "5s",
		config.EnvSessionIdleTimeout: "1h",
		config.EnvSessionLifetime:    "2h",
	}
	for k, v := range extra {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	return env
}

// startExtraReplica starts one more replica (not behind the balancer)
// with env overrides, e.g. another session secret.
func (c *cluster) startExtraReplica(name string, extra map[string]string) *replica {
	c.t.Helper()
	r := startReplica(c.t, c.dir, name, c.env(extra))
	c.logs = append(c.logs, r.stdoutPath, r.stderrPath)
	return r
}

// waitReady waits until every live replica answers /readyz 200.
func (c *cluster) waitReady(ctx context.Context) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	hc := &http.Client{Transport: c.bal, Timeout: 5 * time.Second}
	for i, r := range c.replicas {
		if r.dead.Load() {
			continue
		}
		err := waitFor(ctx, r.name+" /readyz 200", func() bool {
			req, _ := http.NewRequestWithContext(pinned(ctx, i), http.MethodGet, bffURL("/readyz"), nil)
			resp, err := hc.Do(req)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
		if err != nil {
			c.t.Fatalf("%v\n%s", err, tail(r.stderrPath, 20))
		}
	}
}

// scanSecrets adds every token the IdP issued and fails the test if any
// secret appears in any captured log.
func (c *cluster) scanSecrets() {
	for _, tok := range c.idp.provider.IssuedTokens() {
		c.sec.add("token", tok)
	}
	scanLogs(c.t, c.sec, c.logs)
}
