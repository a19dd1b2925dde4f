package store_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/logto-bff/bff/backend/internal/store"
)

func TestParseRedisURL(t *testing.T) {
	tests := []struct {
		in   string
		want store.RedisURL
	}{
		{"redis://127.0.0.1:6379", store.RedisURL{Mode: store.RedisSingle, Addrs: []string{"127.0.0.1:6379"}}},
		{"redis://redis", store.RedisURL{Mode: store.RedisSingle, Addrs: []string{"redis:6379"}}},
		{"redis://:pw@redis:6380/3", store.RedisURL{Mode: store.RedisSingle, Addrs: []string{"redis:6380"}, DB: 3, Password: "pw"}},
		{"redis://user:pw@redis:6380/", store.RedisURL{Mode: store.RedisSingle, Addrs: []string{"redis:6380"}, Username: "user", Password: "pw"}},
		{"rediss://[::1]:6379/0", store.RedisURL{Mode: store.RedisSingle, TLS: true, Addrs: []string{"[::1]:6379"}}},
		{"rediss://[::1]", store.RedisURL{Mode: store.RedisSingle, TLS: true, Addrs: []string{"[::1]:6379"}}},
		// Special characters: percent-encoded, and a raw '@' (the last '@' separates).
		{"redis://:p%40ss%3Aw%2Fo%3Frd%25@h:1", store.RedisURL{Mode: store.RedisSingle, Addrs: []string{"h:1"}, Password: "p@ss:w/o?rd%"}},
		{"redis://:p@ss@h:1/2", store.RedisURL{Mode: store.RedisSingle, Addrs: []string{"h:1"}, Password: "p@ss", DB: 2}},
		{"REDIS://h:1", store.RedisURL{Mode: store.RedisSingle, Addrs: []string{"h:1"}}},
		{"redis+sentinel://s1:26379,s2,s3:26381/mymaster", store.RedisURL{Mode: store.RedisSentinel, Addrs: []string{"s1:26379", "s2:26379", "s3:26381"}, MasterName: "mymaster"}},
		{"redis+sentinel://:pw@s1:1/mymaster/4", store.RedisURL{Mode: store.RedisSentinel, Addrs: []string{"s1:1"}, MasterName: "mymaster", DB: 4, Password: "pw"}},
		{"rediss+sentinel://s1:1/m/", store.RedisURL{Mode: store.RedisSentinel, TLS: true, Addrs: []string{"s1:1"}, MasterName: "m"}},
		{"redis+cluster://n1:7000,n2:7001", store.RedisURL{Mode: store.RedisCluster, Addrs: []string{"n1:7000", "n2:7001"}}},
		{"rediss+cluster://:pw@n1:7000/", store.RedisURL{Mode: store.RedisCluster, TLS: true, Addrs: []string{"n1:7000"}, Password: "pw"}},
	}
	for _, tc := range tests {
		got, err := store.ParseRedisURL(tc.in)
		if err != nil {
			t.Errorf("ParseRedisURL(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseRedisURL(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseRedisURLErrorsNeverShowThePassword(t *testing.T) {
	const pw = "S3cr3t-PW"
	tests := []struct {
		in, wantMsg string
	}{
		{"http://:" + pw + "@h:1", "unknown scheme"},
		{"redis+sentinal://:" + pw + "@h:1/m", "unknown scheme"},
		{":" + pw + "@h:1", "want scheme://"},
		{pw + "://h:1", "unknown scheme"},
		{"redis://:" + pw + "@", "no host"},
		{"redis://:" + pw + "@h:1,h:2", "takes one host"},
		{"redis://:" + pw + "@h:0", "invalid port"},
		{"redis://:" + pw + "@h:65536", "invalid port"},
		{"redis://:" + pw + "@h:port", "invalid port"},
		{"redis://:" + pw + "@h:", "invalid port"},
		{"redis://:" + pw + "@:6379", "empty host"},
		{"redis://:" + pw + "@::1:6379", "IPv6"},
		{"redis://:" + pw + "@h:1/x", "database"},
		{"redis://:" + pw + "@h:1/-1", "database"},
		{"redis://:" + pw + "@h:1/0/1", "path"},
		{"redis://:" + pw + "@h:1?db=1", "query"},
		{"redis://:" + pw, "empty host"}, // '@' forgotten: the password is taken as a port
		{"redis://:" + pw + "%zz@h:1", "%-escape"},
		{"redis+sentinel://:" + pw + "@s:1", "master name"},
		{"redis+sentinel://:" + pw + "@s:1/", "master name"},
		{"redis+sentinel://:" + pw + "@s:1,,s:2/m", "empty host"},
		{"redis+sentinel://:" + pw + "@s:1/m/x", "database"},
		{"redis+sentinel://:" + pw + "@s:1/m/1/2", "path"},
		{"redis+cluster://:" + pw + "@n:1/0", "only database 0"},
		{"redis+cluster://:" + pw + "@n:1/1", "only database 0"},
	}
	for _, tc := range tests {
		_, err := store.ParseRedisURL(tc.in)
		if err == nil {
			t.Errorf("ParseRedisURL(%q) = nil error, want one about %q", tc.in, tc.wantMsg)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantMsg) {
			t.Errorf("ParseRedisURL(%q) = %q, want it to mention %q", tc.in, err, tc.wantMsg)
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "S3cr3t") {
			t.Errorf("ParseRedisURL error shows the password: %q", err)
		}
	}
}

func TestRedisURLStringHidesThePassword(t *testing.T) {
	u, err := store.ParseRedisURL("redis+sentinel://user:S3cr3t@s1:1,s2:2/m/1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.String(), "redis+sentinel://user:xxxxx@s1:1,s2:2/m/1"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
}
