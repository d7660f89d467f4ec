package orchestrator

import (
	"strings"
	"unicode/utf8"

	"github.com/batonhq/baton/engine"
)

// What an attempt brings back from outside — a callout's answer, an
// action's output, an error message — is written in the transaction that
// records the attempt's outcome, and that transaction records a batch of
// outcomes at once. A value the database refuses would fail the whole
// batch, so each outcome is checked first (unstorable, storableText) and
// fails only its own step; what still fails in the database is found by
// the runner (ErrRefused) and recorded as its step's failure.

// ErrRefused is engine.ErrRefused (the Store port's), under the name the
// runner has always used.
var ErrRefused = engine.ErrRefused

// unstorable checks a value an attempt produced against the rules every
// stored value meets (input.go: valid UTF-8 without NUL characters, names
// and text within their lengths, nesting within ValueDepth, finite
// numbers, JSON's kinds of value). It returns "" when v may be stored, or
// the problems found, each with its path under path (`response.body.x:
// contains a NUL character …`), never the value itself.
func (e *Engine) unstorable(path string, v any) string {
	c := newInputCheck(e.limits)
	c.walk(path, v, 1)
	if len(c.problems) == 0 {
		return ""
	}
	ps := make([]string, 0, len(c.problems))
	for i, p := range c.problems {
		if i == 3 {
			ps = append(ps, "…")
			break
		}
		ps = append(ps, p.String())
	}
	return strings.Join(ps, "; ")
}

// storableText makes a message from outside storable on every database:
// NUL characters spelled `\u0000`, invalid UTF-8 replaced by U+FFFD, at
// most max bytes before that (0: no cap); a cut is marked "…".
func storableText(s string, max int) string {
	cut := max > 0 && len(s) > max
	if cut {
		s = s[:max]
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.ReplaceAll(s, "\x00", `\u0000`)
	if cut {
		s += "…"
	}
	return s
}
