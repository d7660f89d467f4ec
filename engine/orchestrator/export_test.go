package orchestrator

// What the tests reach inside the runner for.

// ApplyOutcomes records outcomes as one batch, as the running runner's
// committer does with what its workers report. The committer batches
// whatever arrived together, so tests use this to put chosen outcomes in
// one transaction for certain.
func (e *Engine) ApplyOutcomes(batch []Outcome) {
	e.runner().apply(batch)
}

// RunPass does once, at the clock's time, what the runner's loops do when
// they wake (due timers, READY steps, held callouts to release), and
// returns how many steps it moved. Unlike RunUntilIdle it does not wait
// for attempts in flight: for tests whose callouts hang on purpose.
func (e *Engine) RunPass() (int, error) {
	return e.runner().pass()
}
