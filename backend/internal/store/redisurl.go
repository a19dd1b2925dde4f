package store

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// RedisMode is how a REDIS_URL reaches Redis.
type RedisMode int

const (
	// RedisSingle is one Redis node (redis://, rediss://).
	RedisSingle RedisMode = iota + 1
	// RedisSentinel is a primary found through Sentinel (redis+sentinel://,
	// rediss+sentinel://); the URL's hosts are the sentinels.
	RedisSentinel
	// RedisCluster is a Redis Cluster (redis+cluster://, rediss+cluster://);
	// the URL's hosts are seed nodes.
	RedisCluster
)

func (m RedisMode) String() string {
	switch m {
	case RedisSingle:
		return "single"
	case RedisSentinel:
		return "sentinel"
	case RedisCluster:
		return "cluster"
	}
	return "unknown"
}

// RedisURLForms lists the accepted REDIS_URL forms, for error messages and
// setting descriptions.
const RedisURLForms = "redis://[[user]:password@]host:port[/db], rediss://... (TLS), " +
	"redis+sentinel://[[user]:password@]host:port[,host:port...]/MASTER_NAME[/db], rediss+sentinel://..., " +
	"redis+cluster://[[user]:password@]host:port[,host:port...], rediss+cluster://..."

// RedisURL is a parsed REDIS_URL. Its String form hides the password.
type RedisURL struct {
	// Mode is single node, Sentinel or Cluster.
	Mode RedisMode
	// TLS is true for the rediss schemes: every connection (to Redis nodes
	// and to sentinels) uses TLS.
	TLS bool
	// Addrs are host:port pairs: the node, the sentinels, or the cluster's
	// seed nodes.
	Addrs []string
	// MasterName is the Sentinel master set name (Sentinel only).
	MasterName string
	// DB is the database number (never set for Cluster, which has only 0).
	DB int
	// Username and Password authenticate to the Redis nodes (not to the
	// sentinels, which are contacted without AUTH).
	Username string
	Password string
}

// Default ports when a host has none.
const (
	defaultRedisPort    = "6379"
	defaultSentinelPort = "26379"
)

// errBadRedisURL prefixes every parse error. Parse errors name what is
// wrong, never the URL or any part of its user information.
var errBadRedisURL = errors.New("invalid Redis URL")

func badURL(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRedisURL, fmt.Sprintf(format, args...))
}

// ParseRedisURL parses a REDIS_URL in one of the RedisURLForms (the
// convention pomerium uses). User information must be percent-encoded
// where it holds ':', '/', '?', '#' or '%'; an '@' in a password is found by
// taking the last '@' as the separator. Errors never contain the password.
func ParseRedisURL(raw string) (RedisURL, error) {
	var u RedisURL
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return u, badURL("want scheme://..., one of %s", RedisURLForms)
	}
	defaultPort := defaultRedisPort
	switch strings.ToLower(scheme) {
	case "redis":
		u.Mode = RedisSingle
	case "rediss":
		u.Mode, u.TLS = RedisSingle, true
	case "redis+sentinel":
		u.Mode, defaultPort = RedisSentinel, defaultSentinelPort
	case "rediss+sentinel":
		u.Mode, u.TLS, defaultPort = RedisSentinel, true, defaultSentinelPort
	case "redis+cluster":
		u.Mode = RedisCluster
	case "rediss+cluster":
		u.Mode, u.TLS = RedisCluster, true
	default:
		return u, badURL("unknown scheme; want redis, rediss, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster")
	}

	if at := strings.LastIndex(rest, "@"); at >= 0 {
		userinfo := rest[:at]
		rest = rest[at+1:]
		user, pass, _ := strings.Cut(userinfo, ":")
		var err error
		if u.Username, err = url.PathUnescape(user); err != nil {
			return u, badURL("the user name has an invalid %%-escape")
		}
		if u.Password, err = url.PathUnescape(pass); err != nil {
			return u, badURL("the password has an invalid %%-escape")
		}
	}
	if strings.ContainsAny(rest, "?#") {
		return u, badURL("query parameters and fragments are not supported")
	}
	hosts, path, _ := strings.Cut(rest, "/")
	if hosts == "" {
		return u, badURL("no host")
	}
	list := strings.Split(hosts, ",")
	for i, h := range list {
		addr, err := parseHostPort(h, defaultPort)
		if err != nil {
			return u, fmt.Errorf("%w (host %d of %d)", err, i+1, len(list))
		}
		u.Addrs = append(u.Addrs, addr)
	}

	segs := strings.Split(path, "/")
	if path == "" {
		segs = nil
	}
	switch u.Mode {
	case RedisSingle:
		if len(u.Addrs) != 1 {
			return u, badURL("%s:// takes one host, got %d (use redis+sentinel:// or redis+cluster:// for several)", scheme, len(u.Addrs))
		}
		if len(segs) > 1 {
			return u, badURL("the path must be empty or /db")
		}
		if len(segs) == 1 {
			db, err := parseDB(segs[0])
			if err != nil {
				return u, err
			}
			u.DB = db
		}
	case RedisSentinel:
		if len(segs) == 0 || segs[0] == "" {
			return u, badURL("%s:// needs the master name: host:port[,host:port...]/MASTER_NAME[/db]", scheme)
		}
		name, err := url.PathUnescape(segs[0])
		if err != nil || strings.ContainsAny(name, " \t\r\n") {
			return u, badURL("invalid master name")
		}
		u.MasterName = name
		if len(segs) > 2 {
			return u, badURL("the path must be /MASTER_NAME[/db]")
		}
		if len(segs) == 2 {
			db, err := parseDB(segs[1])
			if err != nil {
				return u, err
			}
			u.DB = db
		}
	case RedisCluster:
		if len(segs) > 1 || len(segs) == 1 && segs[0] != "" {
			return u, badURL("%s:// takes no path: a Redis Cluster has only database 0", scheme)
		}
	}
	return u, nil
}

func parseDB(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	db, err := strconv.Atoi(s)
	if err != nil || db < 0 || db > 1<<20 {
		return 0, badURL("the database must be a non-negative number")
	}
	return db, nil
}

func parseHostPort(h, defaultPort string) (string, error) {
	if h == "" {
		return "", badURL("empty host in the host list")
	}
	host, port := h, defaultPort
	if strings.HasPrefix(h, "[") || strings.Count(h, ":") == 1 {
		var err error
		host, port, err = net.SplitHostPort(h)
		if err != nil {
			// "[::1]" without a port.
			if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
				host, port = h[1:len(h)-1], defaultPort
			} else {
				return "", badURL("invalid host:port")
			}
		}
	} else if strings.Contains(h, ":") {
		return "", badURL("invalid host:port (write IPv6 addresses in brackets)")
	}
	if host == "" {
		return "", badURL("empty host")
	}
	if strings.ContainsAny(host, " \t\r\n/@") {
		return "", badURL("invalid host")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", badURL("invalid port (want a number from 1 to 65535)")
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// String is the URL with the password replaced by "xxxxx".
func (u RedisURL) String() string {
	var b strings.Builder
	if u.TLS {
		b.WriteString("rediss")
	} else {
		b.WriteString("redis")
	}
	switch u.Mode {
	case RedisSentinel:
		b.WriteString("+sentinel")
	case RedisCluster:
		b.WriteString("+cluster")
	}
	b.WriteString("://")
	if u.Username != "" || u.Password != "" {
		b.WriteString(url.PathEscape(u.Username))
		if u.Password != "" {
			b.WriteString(":xxxxx")
		}
		b.WriteString("@")
	}
	b.WriteString(strings.Join(u.Addrs, ","))
	switch u.Mode {
	case RedisSentinel:
		b.WriteString("/" + url.PathEscape(u.MasterName) + "/" + strconv.Itoa(u.DB))
	case RedisSingle:
		b.WriteString("/" + strconv.Itoa(u.DB))
	}
	return b.String()
}
