package e2e

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// Every limit the server takes (its -h lists them as "(BATON_X, default
// Y)") has a row in README's "Limits" table with the same default.
func TestReadmeListsEveryLimit(t *testing.T) {
	bin := batonBinary(t)
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(readme), "## Limits")
	if start < 0 {
		t.Fatal(`README has no "## Limits" section`)
	}
	section := string(readme[start:])
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	usage := regexp.MustCompile(`\((BATON_(?:MAX|EXPR|REQUEST|BODY|WEBSOCKET)_[A-Z_]+), default ([^)]+)\)`)
	found := usage.FindAllStringSubmatch(string(out), -1)
	if len(found) < 10 {
		t.Fatalf("baton -h lists %d limits; want the whole set:\n%s", len(found), out)
	}
	for _, m := range found {
		row := regexp.MustCompile("\\| `" + m[1] + "` \\| `" + regexp.QuoteMeta(m[2]) + "`")
		if !row.MatchString(section) {
			t.Errorf("README Limits has no row | `%s` | `%s` | …", m[1], m[2])
		}
	}
}
