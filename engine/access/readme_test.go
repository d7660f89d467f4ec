package access_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/batonhq/baton/engine/access"
)

// TestReadmeRoleTable: the README's role table is DefaultRoles, role by
// role and permission by permission, and its permission table lists
// every permission once.
func TestReadmeRoleTable(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "| role | for | permissions |")
	if i < 0 {
		t.Fatal("README has no role table")
	}
	var rows [][]string
	for _, line := range strings.Split(text[i:], "\n")[2:] {
		if !strings.HasPrefix(line, "| `") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		rows = append(rows, cells)
	}
	if len(rows) != len(access.DefaultRoles) {
		t.Fatalf("README lists %d roles; DefaultRoles has %d", len(rows), len(access.DefaultRoles))
	}
	for k, r := range access.DefaultRoles {
		name := strings.Trim(strings.TrimSpace(rows[k][0]), "`")
		var perms []access.Permission
		for _, p := range strings.Split(rows[k][2], ",") {
			perms = append(perms, access.Permission(strings.Trim(strings.TrimSpace(p), "`")))
		}
		if name != r.Name || !slices.Equal(perms, r.Permissions) {
			t.Errorf("README row %d = %s %v; want %s %v", k, name, perms, r.Name, r.Permissions)
		}
	}
	j := strings.Index(text, "| permission | what it allows |")
	if j < 0 {
		t.Fatal("README has no permission table")
	}
	var listed []access.Permission
	for _, line := range strings.Split(text[j:], "\n")[2:] {
		if !strings.HasPrefix(line, "| `") {
			break
		}
		listed = append(listed, access.Permission(strings.Trim(strings.TrimSpace(strings.Split(strings.Trim(line, "|"), "|")[0]), "`")))
	}
	if !slices.Equal(listed, access.Permissions) {
		t.Errorf("README permission table = %v; want %v", listed, access.Permissions)
	}
}
