package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/logto-bff/bff/backend/internal/logtoadmin"
)

// envValue is one KEY=VALUE line of an env file.
type envValue struct{ key, value string }

// readEnvFile reads KEY=VALUE lines (blank lines and # comments ignored,
// an optional "export " prefix and matching quotes stripped). A missing
// file is empty. Its error never holds a value.
func readEnvFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			return nil, fmt.Errorf("env file %s line %d: not KEY=VALUE", path, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, sc.Err()
}

// writeEnvFile sets vals in the env file at path, keeping its other lines,
// and leaves it with mode 0600 (written to a temporary file, then renamed,
// so the secret is never in a file others can read). It reports whether it
// created, updated or left the file unchanged.
func writeEnvFile(path string, vals []envValue) (logtoadmin.Action, error) {
	old, err := os.ReadFile(path)
	action := logtoadmin.Updated
	if errors.Is(err, fs.ErrNotExist) {
		action, old = logtoadmin.Created, nil
	} else if err != nil {
		return "", fmt.Errorf("read env file: %w", err)
	}
	for _, v := range vals {
		if strings.ContainsAny(v.value, "\n\r") {
			return "", fmt.Errorf("env file: %s holds a line break", v.key)
		}
	}
	var lines []string
	done := map[string]bool{}
	if len(old) > 0 {
		for _, line := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
			k, _, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "export "), "=")
			k = strings.TrimSpace(k)
			if i := indexKey(vals, k); ok && i >= 0 && !strings.HasPrefix(strings.TrimSpace(line), "#") {
				if !done[k] {
					lines = append(lines, k+"="+vals[i].value)
					done[k] = true
				}
				continue
			}
			lines = append(lines, line)
		}
	} else {
		lines = append(lines, "# the BFF's Logto settings (written by bff logto setup)")
	}
	for _, v := range vals {
		if !done[v.key] {
			lines = append(lines, v.key+"="+v.value)
		}
	}
	data := []byte(strings.Join(lines, "\n") + "\n")
	st, statErr := os.Stat(path)
	if action == logtoadmin.Updated && bytes.Equal(data, old) && statErr == nil && st.Mode().Perm() == 0o600 {
		return logtoadmin.Unchanged, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".env-*")
	if err != nil {
		return "", fmt.Errorf("write env file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write env file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write env file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write env file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("write env file: %w", err)
	}
	return action, nil
}

func indexKey(vals []envValue, k string) int {
	for i, v := range vals {
		if v.key == k {
			return i
		}
	}
	return -1
}
