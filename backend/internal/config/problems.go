package config

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one invalid or missing setting.
type Problem struct {
	// Var is the environment variable at fault.
	Var string
	// Message says what is wrong, without the value of a secret.
	Message string
}

// String renders the problem as "VAR: message".
func (p Problem) String() string { return p.Var + ": " + p.Message }

// Problems is every problem found in one configuration, in the order of
// Settings. It is the error returned by Load and Validate.
type Problems []Problem

// Error renders one line per problem.
func (p Problems) Error() string {
	lines := make([]string, len(p))
	for i, pr := range p {
		lines[i] = pr.String()
	}
	return strings.Join(lines, "\n")
}

func (p *Problems) add(name, format string, args ...any) {
	*p = append(*p, Problem{Var: name, Message: fmt.Sprintf(format, args...)})
}

func (p Problems) has(name string) bool {
	for _, pr := range p {
		if pr.Var == name {
			return true
		}
	}
	return false
}

func (p Problems) sort() {
	order := make(map[string]int, len(Settings))
	for i, s := range Settings {
		order[s.Name] = i
	}
	sort.SliceStable(p, func(i, j int) bool { return order[p[i].Var] < order[p[j].Var] })
}
