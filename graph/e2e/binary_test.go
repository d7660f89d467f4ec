package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// batonBinary builds the server once per test run.
func batonBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "baton-e2e-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "baton")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/batonhq/baton")
		cmd.Stderr = os.Stderr
		buildErr = cmd.Run()
	})
	if buildErr != nil {
		t.Fatalf("build baton: %v", buildErr)
	}
	return binPath
}

func cleanupBinaries() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}
