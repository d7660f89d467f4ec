package engine

import "time"

// Expressions are expr-lang programs, compiled once per catalog version
// against the environment of the place they appear in, so that a name that
// is not available there (item in a scenario condition, say) is a compile
// error at import, not a surprise at run time.

// OrderView is `order` in expressions.
type OrderView struct {
	ID                  int            `expr:"id"`
	ExternalID          string         `expr:"externalId"`
	AccountID           string         `expr:"accountId"`
	Attributes          map[string]any `expr:"attributes"`
	Lines               []*LineView    `expr:"lines"`
	RequestedCompletion *time.Time     `expr:"requestedCompletion"`
}

// LineView is `line` (and `bundle`, the line's bundle line) in expressions.
type LineView struct {
	ID          string         `expr:"id"`
	ProductCode string         `expr:"productCode"`
	Quantity    int            `expr:"quantity"`
	Attributes  map[string]any `expr:"attributes"`
	ParentID    string         `expr:"parentId"`
	Action      string         `expr:"action"`
	AssetID     int            `expr:"assetId"`
}

// ItemView is `item` (a fulfillment line) in expressions.
type ItemView struct {
	ID          int            `expr:"id"`
	Key         string         `expr:"key"`
	ProductCode string         `expr:"productCode"`
	Quantity    int            `expr:"quantity"`
	Attributes  map[string]any `expr:"attributes"`
	Rule        string         `expr:"rule"`
	BundleKey   string         `expr:"bundleKey"`
}

// AccountView is `account` in expressions.
type AccountView struct {
	ID         string         `expr:"id"`
	Attributes map[string]any `expr:"attributes"`
}
