package engine

import "time"

// DecompositionScope says how many fulfillment lines a rule creates.
type DecompositionScope string

// Decomposition scopes.
const (
	DecomposeLine    DecompositionScope = "LINE"
	DecomposeBundle  DecompositionScope = "BUNDLE"
	DecomposeAccount DecompositionScope = "ACCOUNT"
	// DecomposeContext marks the items of a generic orchestration.
	DecomposeContext DecompositionScope = "CONTEXT"
)

// OrderInput is a commercial order as submitted.
type OrderInput struct {
	ExternalID          string
	AccountID           string
	Attributes          map[string]any
	Lines               []LineInput
	RequestedCompletion *time.Time
}

// LineInput is one submitted order line.
type LineInput struct {
	ID          string
	ProductCode string
	Quantity    int
	Attributes  map[string]any
	ParentID    string
	Action      LineAction
	AssetID     int
}

// AccountState is what already exists for an account when an order is
// decomposed and planned: its account items (by rule) and its
// account-scoped steps (by step name), which are reused, never recreated.
type AccountState struct {
	ID         string
	Attributes map[string]any
	Items      map[string]*ExistingItem
	Steps      map[string]*ExistingStep
}

// ExistingItem is a stored account item.
type ExistingItem struct {
	ID          int
	Key         string
	Rule        string
	ProductCode string
	Quantity    int
	Attributes  map[string]any
}

// ExistingStep is a stored step that a new plan may depend on.
type ExistingStep struct {
	ID     int
	Name   string
	Status StepStatus
}

// DecomposedLine is an order line after enrichment and bundle expansion.
type DecomposedLine struct {
	LineInput
	Position  int
	Generated bool
	Status    LineStatus
	// Missing lists what a decomposition rule waits for (AWAITING_DATA).
	Missing []string
	// Bundle is the id of the nearest bundle line at or above this line,
	// or "" when the line is in no bundle.
	Bundle string
	// Revised: the revision being written added or changed the line (its
	// revision number becomes that revision's).
	Revised bool
}

// Item is a fulfillment line: one instance of a technical product.
type Item struct {
	Key         string
	ProductCode string
	Rule        string
	Scope       DecompositionScope
	Quantity    int
	Attributes  map[string]any
	Sources     []string // ids of the source lines
	BundleKey   string   // the bundle line id, or the source line id when in no bundle
	Existing    *ExistingItem
	// ID is the stored id, once written (or of the existing item).
	ID int
}
