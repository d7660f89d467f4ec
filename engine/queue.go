package engine

import "time"

// QueueState is what the API changed about a work queue beside its
// catalog definition (the queues table).
type QueueState struct {
	Name string
	// Members, when MembersSet, replace the catalog's.
	Members    []string
	MembersSet bool
	// Unavailable members (out of office) are assigned nothing.
	Unavailable []string
	// Cursor counts the tasks round robin has assigned.
	Cursor    int
	UpdatedAt time.Time
	UpdatedBy string
}

// TaskCounts are a queue's open manual tasks.
type TaskCounts struct {
	Open, Unassigned, AtRisk, Late int
	// Load is each assignee's open tasks in the queue.
	Load map[string]int
}
