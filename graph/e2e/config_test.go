package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A malformed configuration is refused before anything is touched: no
// database file is created and no catalog imported, and the message names
// the variable.
func TestBadConfigurationTouchesNothing(t *testing.T) {
	bin := batonBinary(t)
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"malformed tokens", []string{"BATON_API_TOKENS=alice"}, "BATON_API_TOKENS"},
		{"short token", []string{"BATON_API_TOKENS=alice:short"}, "BATON_API_TOKENS"},
		{"limit not a number", []string{"BATON_MAX_ORDER_LINES=many"}, "BATON_MAX_ORDER_LINES"},
		{"limit zero", []string{"BATON_MAX_COMPLEXITY=0"}, "BATON_MAX_COMPLEXITY"},
		{"limit overflows", []string{"BATON_MAX_EXPR_NODES=-1"}, "BATON_MAX_EXPR_NODES"},
		{"timeout not a duration", []string{"BATON_REQUEST_TIMEOUT=soon"}, "BATON_REQUEST_TIMEOUT"},
		{"workers not a number", []string{"BATON_WORKERS=lots"}, "BATON_WORKERS"},
		{"forecast samples not a number", []string{"BATON_FORECAST_MIN_SAMPLES=twenty"}, "BATON_FORECAST_MIN_SAMPLES"},
		{"forecast samples zero", []string{"BATON_FORECAST_MIN_SAMPLES=0"}, "BATON_FORECAST_MIN_SAMPLES"},
		{"forecast window not positive", []string{"BATON_FORECAST_WINDOW=-5"}, "BATON_FORECAST_WINDOW"},
		{"rate not a number", []string{"BATON_RATE_LIMIT=fast"}, "BATON_RATE_LIMIT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "baton.db")
			cmd := exec.Command(bin)
			cmd.Env = append(os.Environ(), "BATON_ADDR=127.0.0.1:0", "DATABASE_URL=sqlite://"+db, "REDIS_URL=", "BATON_CATALOG=")
			cmd.Env = append(cmd.Env, tc.env...)
			done := make(chan struct{})
			var out []byte
			var err error
			go func() { out, err = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatal("baton kept running with a malformed configuration")
			}
			if err == nil {
				t.Fatalf("baton exited 0; output:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output does not name %s:\n%s", tc.want, out)
			}
			if _, err := os.Stat(db); !os.IsNotExist(err) {
				t.Errorf("database %s was created (stat: %v)", db, err)
			}
		})
	}
}
