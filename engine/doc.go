// Package engine is the vocabulary Baton's packages share and the ports they
// meet at: statuses and the step transition table, events, coded errors, the
// clock, the records the store reads and writes, and the Store, Tx and Broker
// interfaces. It holds no behaviour beyond that vocabulary.
package engine
