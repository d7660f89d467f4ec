package engine

import "time"

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
		c := AssetChange{LineID: l.LineID, AssetID: l.AssetID}
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
