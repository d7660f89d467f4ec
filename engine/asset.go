package engine

import (
	"strconv"
	"time"
)

// AssetStatus is the state of a product an account has.
type AssetStatus string

const (
	AssetActive       AssetStatus = "ACTIVE"
	AssetSuspended    AssetStatus = "SUSPENDED"
	AssetDisconnected AssetStatus = "DISCONNECTED"
)

// Asset is a product an account has: created by a completed ADD line,
// changed by the lines of later orders that name it.
type Asset struct {
	ID          int
	AccountID   string
	Product     string
	Quantity    int
	Status      AssetStatus
	Attributes  map[string]any
	OrderID     int // the order that created it
	OrderLineID int
	LastOrderID int // the last order that changed it
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// AssetLine is a line of a completed order as its effect on the
// account's assets needs it.
type AssetLine struct {
	LineID     int
	Product    string
	Quantity   int
	Attributes map[string]any
	Action     LineAction
	AssetID    int
}

// AssetChange is what completing one line does to the account's assets.
type AssetChange struct {
	LineID  int
	AssetID int // 0: a new asset
	Action  LineAction
	// Product, Quantity and Attributes of a new asset; Quantity and
	// Attributes (merged into the asset's) of a CHANGE.
	Product    string
	Quantity   *int
	Attributes map[string]any
	Status     AssetStatus // "" keeps the asset's status
}

// OrderAssets is what completing an order does to its account's assets.
type OrderAssets struct {
	OrderID    int
	AccountRef int
	AccountID  string
	Changes    []AssetChange
}

// AssetChanges works out what the lines of a completed order do to the
// account's assets: an ADD line creates an active asset; CHANGE sets the
// quantity and merges the attributes of the asset it names; DISCONNECT,
// SUSPEND and RESUME move the asset's status.
func AssetChanges(lines []AssetLine) []AssetChange {
	out := make([]AssetChange, 0, len(lines))
	for _, l := range lines {
		c := AssetChange{LineID: l.LineID, AssetID: l.AssetID, Action: l.Action}
		switch l.Action {
		case ActionAdd:
			qty := l.Quantity
			c.AssetID, c.Product, c.Quantity, c.Attributes, c.Status = 0, l.Product, &qty, l.Attributes, AssetActive
		case ActionChange:
			qty := l.Quantity
			c.Quantity, c.Attributes = &qty, l.Attributes
			if c.Attributes == nil {
				c.Attributes = map[string]any{}
			}
		case ActionDisconnect:
			c.Status = AssetDisconnected
		case ActionSuspend:
			c.Status = AssetSuspended
		case ActionResume:
			c.Status = AssetActive
		default:
			continue
		}
		out = append(out, c)
	}
	return out
}

// AssetEvent is one change of an asset, in its history.
type AssetEvent struct {
	AssetID     int
	OrderID     int
	OrderLineID int
	Action      LineAction
	FromStatus  AssetStatus // "" for ADD
	ToStatus    AssetStatus
	Quantity    int
	Attributes  map[string]any
	At          time.Time
}

// allowedFrom lists the asset statuses each action applies to.
var allowedFrom = map[LineAction][]AssetStatus{
	ActionChange:     {AssetActive, AssetSuspended},
	ActionSuspend:    {AssetActive},
	ActionResume:     {AssetSuspended},
	ActionDisconnect: {AssetActive, AssetSuspended},
}

// CheckAssetLines checks the lines of an order of accountID that act on
// existing assets (CHANGE, DISCONNECT, SUSPEND, RESUME) against those
// assets (by id; a missing id is absent): the asset must exist and belong
// to the account — another account's asset is refused exactly like a
// missing one, so that ids cannot be probed — and be of the line's
// product (BAD_USER_INPUT), and its status must allow the action
// (INVALID_STATE: no RESUME of an active asset, no SUSPEND of a suspended
// one, no change of a disconnected one). Two lines of one order may not
// act on the same asset (BAD_USER_INPUT on the second): each line's change
// would be applied, and recorded in the asset's history, from the status
// the asset had before the order. Each problem names its line;
// BAD_USER_INPUT wins when both kinds occur.
func CheckAssetLines(accountID string, lines []LineInput, assets map[int]*Asset) error {
	var bad, state []Problem
	first := map[int]string{} // asset id → the line that acts on it
	for i, l := range lines {
		if l.Action == "" || l.Action == ActionAdd || l.AssetID == 0 {
			continue
		}
		path := "lines[" + itoa(i) + "].assetId"
		a := assets[l.AssetID]
		prev, dup := first[l.AssetID]
		switch {
		case a == nil || a.AccountID != accountID:
			bad = append(bad, Problem{Path: path, Message: "line " + quoteID(l.ID) + ": unknown asset " + itoa(l.AssetID)})
		case dup:
			bad = append(bad, Problem{Path: path, Message: "line " + quoteID(l.ID) + ": asset " + itoa(l.AssetID) +
				" is already changed by line " + quoteID(prev)})
		case a.Product != l.ProductCode:
			bad = append(bad, Problem{Path: path, Message: "line " + quoteID(l.ID) + ": asset " + itoa(l.AssetID) + " is a " +
				quoteID(a.Product) + ", not a " + quoteID(l.ProductCode)})
		case !containsStatus(allowedFrom[l.Action], a.Status):
			state = append(state, Problem{Path: path, Message: "line " + quoteID(l.ID) + ": asset " + itoa(l.AssetID) + " is " +
				string(a.Status) + "; it cannot " + string(l.Action)})
		}
		if a != nil && a.AccountID == accountID && !dup {
			first[l.AssetID] = l.ID
		}
	}
	if len(bad) > 0 {
		return &Error{Code: CodeBadUserInput, Message: "invalid order", Problems: bad}
	}
	if len(state) > 0 {
		return &Error{Code: CodeInvalidState, Message: "an asset's status does not allow the line's action", Problems: state}
	}
	return nil
}

// AssetIDs lists the assets an order's lines act on.
func AssetIDs(lines []LineInput) []int {
	var out []int
	for _, l := range lines {
		if l.Action != "" && l.Action != ActionAdd && l.AssetID != 0 {
			out = append(out, l.AssetID)
		}
	}
	return out
}

func containsStatus(list []AssetStatus, s AssetStatus) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func itoa(n int) string       { return strconv.Itoa(n) }
func quoteID(s string) string { return strconv.Quote(s) }

// AssetQuery selects an account's assets (Store.Assets): those of
// AccountID (required), narrowed to the ids in IDs, the statuses in Status
// and the product Product when they are set, oldest first, at most Limit
// of them (0: all).
type AssetQuery struct {
	AccountID string
	IDs       []int
	Status    []AssetStatus
	Product   string
	Limit     int
}

// Validate refuses a query without an account, with an unknown status or
// a negative limit (BAD_USER_INPUT).
func (q AssetQuery) Validate() error {
	var probs []Problem
	if q.AccountID == "" {
		probs = append(probs, Problem{Path: "accountId", Message: "an account is required"})
	}
	for i, s := range q.Status {
		if s != AssetActive && s != AssetSuspended && s != AssetDisconnected {
			probs = append(probs, Problem{Path: "status[" + itoa(i) + "]", Message: "unknown asset status " + quoteID(string(s))})
		}
	}
	if q.Limit < 0 {
		probs = append(probs, Problem{Path: "limit", Message: "the limit cannot be negative"})
	}
	if len(probs) > 0 {
		return &Error{Code: CodeBadUserInput, Message: "invalid asset query", Problems: probs}
	}
	return nil
}
