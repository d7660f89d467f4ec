package plan

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/batonhq/baton/engine"
)

var pictureNow = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func pat(d time.Duration) *time.Time { v := pictureNow.Add(d); return &v }

// pictureCases are the plans the golden files in testdata/pictures draw:
// <name>.mmd (Mermaid), <name>.dot (Graphviz) and <name>.json (timeline).
// Run `go test ./engine/plan -run TestPictureGolden -update` after a
// deliberate change, and read the diff.
func pictureCases() map[string]*engine.PlanTimeline {
	h := time.Hour
	due := pictureNow.Add(5 * h)
	hostile := `Evil"] --> s1` + "\n" + `click s1 call alert(1) %%{init: {"securityLevel": "loose"}}%% <img src=x onerror=alert(1)> \N #quot; ` + "`**md**`" + ` }; x -> y [color=red]`
	every := &engine.PlanTimeline{PlanID: 3, Status: engine.PlanInProgress, Groups: []engine.TimelineGroup{{ID: 1, Name: "All", Position: 0}}}
	for i, s := range engine.StepStatuses {
		every.Steps = append(every.Steps, &engine.TimelineStep{ID: 10 + i, Name: string(s), Status: s, Jeopardy: engine.OnTrack, GroupID: 1})
	}
	return map[string]*engine.PlanTimeline{
		// The example catalog's server fulfilment, half way: two swimlanes,
		// a cross-swimlane dependency, an account step of an earlier order.
		"server": {PlanID: 7, Status: engine.PlanInProgress, RequestedCompletion: &due,
			Groups: []engine.TimelineGroup{{ID: 2, Name: "Field service", Position: 1}, {ID: 1, Name: "Shipping", Position: 0}},
			Steps: []*engine.TimelineStep{
				{ID: 21, Name: "Ship", Type: engine.Callout, Status: engine.StepCompleted, Jeopardy: engine.OnTrack, GroupID: 1,
					ReadyAt: pat(-3 * h), CompletedAt: pat(-2 * h), Estimate: 2 * h},
				{ID: 22, Name: "Delivered", Type: engine.Callout, Status: engine.StepWaiting, Jeopardy: engine.AtRisk, GroupID: 1,
					ReadyAt: pat(-2 * h), Prereqs: []int{21}, Estimate: 3 * h},
				{ID: 23, Name: "Install", Type: engine.ManualTask, Status: engine.StepPending, Jeopardy: engine.OnTrack, GroupID: 2,
					Prereqs: []int{22}, External: []engine.ExternalPrereq{{ID: 5, Name: "WelcomeCall", Done: false}},
					Estimate: 2 * h, History: &engine.DurationStats{N: 40, P50: 2 * h, P90: 3*h + 20*time.Minute}},
				{ID: 24, Name: "CustomerConfirmation", Type: engine.Pause, Status: engine.StepWaiting, Jeopardy: engine.Late, GroupID: 2,
					ReadyAt: pat(-5 * h), Estimate: 4 * h},
			}},
		"hostile": {PlanID: 9, Status: engine.PlanInProgress,
			Groups: []engine.TimelineGroup{{ID: 1, Name: hostile, Position: 0}},
			Steps: []*engine.TimelineStep{
				{ID: 1, Name: hostile, Status: engine.StepReady, Jeopardy: engine.OnTrack, GroupID: 1, ReadyAt: pat(0), Estimate: h},
				{ID: 2, Name: "ok", Status: engine.StepPending, Jeopardy: engine.OnTrack, GroupID: 1, Prereqs: []int{1},
					External: []engine.ExternalPrereq{{ID: 99, Name: hostile}}},
			}},
		"every_status": every,
		"empty":        {PlanID: 4, Status: engine.PlanPending},
	}
}

func TestPictureGolden(t *testing.T) {
	t.Parallel()
	for name, tl := range pictureCases() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := ForecastPlan(tl, pictureNow)
			tj, err := json.MarshalIndent(Timeline(tl, f), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			for ext, got := range map[string]string{".mmd": Mermaid(tl, f), ".dot": DOT(tl, f), ".json": string(tj) + "\n"} {
				file := filepath.Join("testdata", "pictures", name+ext)
				if *update {
					if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(file)
				if err != nil {
					t.Fatalf("%v (run with -update to write it)", err)
				}
				if string(want) != got {
					t.Errorf("%s differs from the golden file (run with -update to accept):\n%s", file, lineDiff(string(want), got))
				}
			}
		})
	}
}

// Whatever a name holds, every Mermaid line is one of the statements the
// drawing makes, every label a quoted string with no quote, no markup and
// no directive in it; DOT labels end where they should.
func TestPictureEscaping(t *testing.T) {
	t.Parallel()
	names := []string{
		`"]`, `a"] --> b["x`, "line\nclick s1 call alert(1)", `%%{init: {"theme": "dark"}}%%`, "%% comment",
		`<script>alert(1)</script>`, "`**markdown**`", `#quot;`, `&lt;`, `{}[]()|;`, "\u2028\u2029\r\t\x00",
		`\"`, `\`, `\N \G \L`, `"; x -> y [`, `<b>html</b>`, "Café ñ 日本",
	}
	mermaidLine := regexp.MustCompile(`^(flowchart LR|  classDef [a-zA-Z]+ [^"\n]+|  subgraph (g|lane)\d+\["[^"<>%\x60{}]*"\]|    s\d+\["[^"<>%\x60{}]*"\]|  end|  x\d+\["[^"<>%\x60{}]*"\]|  [sx]\d+ (-->|==>|-\.->) s\d+|  class [sx]\d+ [a-zA-Z]+)$`)
	dotLabel := regexp.MustCompile(`label="((?:[^"\\]|\\.)*)"`)
	for _, name := range names {
		tl := &engine.PlanTimeline{PlanID: 1, Status: engine.PlanInProgress, Groups: []engine.TimelineGroup{{ID: 1, Name: name}},
			Steps: []*engine.TimelineStep{
				{ID: 1, Name: name, Status: engine.StepReady, Jeopardy: engine.Late, GroupID: 1},
				{ID: 2, Name: name, Status: engine.StepPending, GroupID: 1, Prereqs: []int{1}, External: []engine.ExternalPrereq{{ID: 3, Name: name}}},
			}}
		m := Mermaid(tl, nil)
		for _, line := range strings.Split(strings.TrimSuffix(m, "\n"), "\n") {
			if !mermaidLine.MatchString(line) {
				t.Errorf("Mermaid(%q): line %q is not one the drawing makes", name, line)
			}
		}
		d := DOT(tl, nil)
		lines := strings.Split(strings.TrimSuffix(d, "\n"), "\n")
		if len(lines) != 12 || lines[len(lines)-1] != "}" {
			t.Errorf("DOT(%q) has %d lines; want 12 ending in }:\n%s", name, len(lines), d)
		}
		for _, l := range lines {
			if strings.Contains(l, "label=") {
				m := dotLabel.FindStringSubmatch(l)
				if m == nil {
					t.Errorf("DOT(%q): unquoted label in %q", name, l)
					continue
				}
				if un := strings.NewReplacer(`\\`, `\`, `\"`, `"`).Replace(m[1]); !strings.HasPrefix(un, strings.Map(func(r rune) rune {
					if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' || (r >= 0x80 && r < 0xa0) {
						return ' '
					}
					return r
				}, name)) {
					t.Errorf("DOT(%q): label %q does not read back as the name", name, un)
				}
			}
		}
	}
}

func TestMermaidText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"Install", "Install"},
		{`Say "hi"`, "Say #34;hi#34;"},
		{"a\nb", "a b"},
		{"50% <b>", "50#37; #60;b#62;"},
		{"Straße (EU)", "Straße (EU)"},
		{"#quot;", "#35;quot#59;"},
	} {
		if got := mermaidText(tc.in); got != tc.want {
			t.Errorf("mermaidText(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestDotString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"Install", `"Install"`},
		{`Say "hi"`, `"Say \"hi\""`},
		{`\N`, `"\\N"`},
		{"a\nb", `"a b"`},
	} {
		if got := dotString(tc.in); got != tc.want {
			t.Errorf("dotString(%q) = %s; want %s", tc.in, got, tc.want)
		}
	}
}

// The README's legend and its Mermaid example are the code's: a colour
// changed here, or a golden file regenerated, fails until the README
// follows.
func TestReadmePictureLegend(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(readme)
	for _, s := range engine.StepStatuses {
		c := StatusColors[s]
		if want := "| " + string(s) + " | `" + c.Fill + "` "; !strings.Contains(doc, want) {
			t.Errorf("README legend lacks %q", want)
		}
		if want := "| `" + c.Stroke + "`"; !strings.Contains(doc, want) {
			t.Errorf("README legend lacks %s's border %q", s, want)
		}
	}
	for j, js := range JeopardyStroke {
		if want := "`" + js.Color + "`"; !strings.Contains(doc, want) {
			t.Errorf("README legend lacks %s's border %s", j, want)
		}
	}
	mmd, err := os.ReadFile(filepath.Join("testdata", "pictures", "server.mmd"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(doc, "```mermaid\n"+string(mmd)+"```\n") {
		t.Error("README's Mermaid example is not testdata/pictures/server.mmd")
	}
}
