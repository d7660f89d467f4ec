package engine

// StepCount is how many open steps have a status and a jeopardy.
type StepCount struct {
	Status   StepStatus
	Jeopardy Jeopardy
	N        int
}
